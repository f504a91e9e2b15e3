/*
 * src/timeline_cmd: the "timeline" command, which draws an audit log
 * (src/timeline_model.h reads it, src/timeline_svg.h draws it).
 */
#ifndef SRC_TIMELINE_CMD_H
#define SRC_TIMELINE_CMD_H

/* jvpn-quic timeline [--session ID] [--since T] [--until T]
 * [--detail auto|full|overview] AUDIT.jsonl -o FILE.svg. argv[0] names
 * the subcommand. Exit code 0, 1 (unreadable log, nothing to draw, write
 * error), 2 (usage). */
int jvpn_cmd_timeline(int argc, char **argv);

#endif /* SRC_TIMELINE_CMD_H */
