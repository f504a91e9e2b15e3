/* tests/tools/probe: being written */
int main(void) { return 1; }
