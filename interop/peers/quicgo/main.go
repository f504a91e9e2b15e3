// quicgo-peer: an interop peer for jvpn-quic built on quic-go 0.29
// (Debian's golang-github-lucas-clemente-quic-go-dev).  It follows the
// endpoint contract of interop/README.md; see README.md next to this file.
package main

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	_ "unsafe" // for go:linkname (keyupdate)

	quic "github.com/lucas-clemente/quic-go"
	"github.com/lucas-clemente/quic-go/http3"
	"github.com/lucas-clemente/quic-go/logging"
	"github.com/lucas-clemente/quic-go/qlog"
)

// quic-go 0.29 has no API to trigger a key update.  Its key update
// interval is a package variable of an internal package (meant for its
// own tests); linkname lets us lower it for the keyupdate case.
//
//go:linkname keyUpdateInterval github.com/lucas-clemente/quic-go/internal/handshake.KeyUpdateInterval
var keyUpdateInterval uint64

const (
	exitOK          = 0
	exitFail        = 1
	exitUnsupported = 127
	alpnHQ          = "hq-interop"
	alpnH3          = "h3"
)

// Test cases each role can do.  Everything else gives 127.
var serverCases = map[string]bool{
	"handshake": true, "transfer": true, "retry": true, "resumption": true,
	"zerortt": true, "http3": true, "multiconnect": true, "chacha20": true,
	"keyupdate": true, "v2": true,
	// rebind-port, rebind-addr, connectionmigration: a quic-go 0.29 server
	// keeps sending to the address the connection started from and
	// advertises disable_active_migration (see README.md).
	"transferloss": true, "handshakeloss": true,
	"amplificationlimit": true, "blackhole": true, "ecn": true, "datagram": true,
}

var clientCases = map[string]bool{
	"handshake": true, "transfer": true, "retry": true, "resumption": true,
	"zerortt": true, "http3": true, "multiconnect": true, "chacha20": true,
	"keyupdate": true, "v2": true, "rebind-port": true, "rebind-addr": true,
	// connectionmigration: a quic-go 0.29 client cannot migrate.
	"transferloss": true, "handshakeloss": true, "amplificationlimit": true,
	"blackhole": true, "ecn": true, "datagram": true,
}

type options struct {
	role      string
	listen    string
	cert, key string
	www       string
	testcase  string
	qlogDir   string
	keylog    string
	downloads string
	urls      []string
}

func logf(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "quicgo-peer: "+format+"\n", a...)
}

func usage() int {
	fmt.Fprintln(os.Stderr, `usage: quicgo-peer server --listen ADDR:PORT --cert FILE --key FILE --www DIR
                   --testcase NAME [--qlog-dir DIR] [--keylog FILE]
       quicgo-peer client --testcase NAME --downloads DIR
                   [--qlog-dir DIR] [--keylog FILE] URL...`)
	return 2
}

func parseArgs(args []string) (*options, error) {
	if len(args) < 1 || (args[0] != "server" && args[0] != "client") {
		return nil, errors.New("first argument must be server or client")
	}
	o := &options{role: args[0]}
	for i := 1; i < len(args); i++ {
		a := args[i]
		var val *string
		switch {
		case a == "--listen":
			val = &o.listen
		case a == "--cert":
			val = &o.cert
		case a == "--key":
			val = &o.key
		case a == "--www":
			val = &o.www
		case a == "--testcase":
			val = &o.testcase
		case a == "--qlog-dir":
			val = &o.qlogDir
		case a == "--keylog":
			val = &o.keylog
		case a == "--downloads":
			val = &o.downloads
		case strings.HasPrefix(a, "--") && strings.Contains(a, "="):
			// --opt=value form
			kv := strings.SplitN(a, "=", 2)
			rest := append([]string{kv[0], kv[1]}, args[i+1:]...)
			sub, err := parseArgs(append([]string{o.role}, rest...))
			if err != nil {
				return nil, err
			}
			merge(o, sub)
			return o, nil
		case strings.HasPrefix(a, "-"):
			return nil, fmt.Errorf("unknown option %s", a)
		default:
			o.urls = append(o.urls, a)
			continue
		}
		if i+1 >= len(args) {
			return nil, fmt.Errorf("option %s needs a value", a)
		}
		i++
		*val = args[i]
	}
	return o, nil
}

func merge(dst, src *options) {
	set := func(d *string, s string) {
		if s != "" {
			*d = s
		}
	}
	set(&dst.listen, src.listen)
	set(&dst.cert, src.cert)
	set(&dst.key, src.key)
	set(&dst.www, src.www)
	set(&dst.testcase, src.testcase)
	set(&dst.qlogDir, src.qlogDir)
	set(&dst.keylog, src.keylog)
	set(&dst.downloads, src.downloads)
	dst.urls = append(dst.urls, src.urls...)
}

func main() {
	o, err := parseArgs(os.Args[1:])
	if err != nil {
		logf("%v", err)
		os.Exit(usage())
	}
	if o.testcase == "" {
		o.testcase = os.Getenv("TESTCASE")
	}
	if o.keylog == "" {
		o.keylog = os.Getenv("SSLKEYLOGFILE")
	}
	if o.qlogDir == "" {
		o.qlogDir = os.Getenv("QLOGDIR")
	}
	if o.testcase == "datagram" && forcedH3() {
		// the datagram case is defined over hq-interop only
		logf("%s: test case datagram needs hq-interop, but INTEROP_ALPN=h3", o.role)
		os.Exit(exitUnsupported)
	}
	if o.role == "server" {
		if !serverCases[o.testcase] {
			logf("server: test case %q not supported", o.testcase)
			os.Exit(exitUnsupported)
		}
		if o.listen == "" || o.cert == "" || o.key == "" || o.www == "" {
			os.Exit(usage())
		}
		os.Exit(runServer(o))
	}
	if !clientCases[o.testcase] {
		logf("client: test case %q not supported", o.testcase)
		os.Exit(exitUnsupported)
	}
	if o.downloads == "" || len(o.urls) == 0 {
		os.Exit(usage())
	}
	os.Exit(runClient(o))
}

// ---- shared configuration ----

// forcedH3: the runner sets INTEROP_ALPN=h3 for every case when the other
// side speaks only HTTP/3 (ngtcp2's examples); QUICGO_PEER_FORCE_H3=1 does
// the same by hand.
func forcedH3() bool {
	return os.Getenv("INTEROP_ALPN") == "h3" || os.Getenv("QUICGO_PEER_FORCE_H3") == "1"
}

func alpnFor(testcase string) string {
	if testcase == "http3" || forcedH3() {
		return alpnH3
	}
	return alpnHQ
}

func keylogWriter(o *options) (io.Writer, error) {
	if o.keylog == "" {
		return nil, nil
	}
	return os.OpenFile(o.keylog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
}

type qlogFile struct {
	f *os.File
	w *bufferedWriter
}

// bufferedWriter is a tiny buffered writer that flushes on Close.
type bufferedWriter struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= 64<<10 {
		if _, err := b.f.Write(b.buf); err != nil {
			return 0, err
		}
		b.buf = b.buf[:0]
	}
	return len(p), nil
}

func (b *bufferedWriter) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.buf) > 0 {
		b.f.Write(b.buf)
		b.buf = nil
	}
	return b.f.Close()
}

func qlogTracer(o *options) logging.Tracer {
	if o.qlogDir == "" {
		return nil
	}
	if err := os.MkdirAll(o.qlogDir, 0o755); err != nil {
		logf("qlog dir: %v", err)
		return nil
	}
	return qlog.NewTracer(func(p logging.Perspective, odcid []byte) io.WriteCloser {
		role := "server"
		if p == logging.PerspectiveClient {
			role = "client"
		}
		name := filepath.Join(o.qlogDir, fmt.Sprintf("%s_%s.qlog", hex.EncodeToString(odcid), role))
		f, err := os.Create(name)
		if err != nil {
			logf("qlog: %v", err)
			return nil
		}
		return &bufferedWriter{f: f}
	})
}

// patient: the runner's handshakeloss reaches the endpoints as
// "multiconnect" (50 connections, 30 % loss each way). ngtcp2 0.12.1
// resends a lost Handshake flight one packet per PTO (after 1, 3, 7, 15,
// ... s), so every stack here waits as long as the jvpn endpoint does
// (interop/interop.h): 130 s of silence, 290 s for the whole run (the
// case's bound is 300 s).
func patient(o *options) bool { return o.testcase == "multiconnect" }

func quicConfig(o *options) *quic.Config {
	c := &quic.Config{
		Tracer:               qlogTracer(o),
		MaxIdleTimeout:       30 * time.Second,
		HandshakeIdleTimeout: 10 * time.Second,
		EnableDatagrams:      o.testcase == "datagram",
	}
	if patient(o) {
		c.MaxIdleTimeout = 130 * time.Second
		c.HandshakeIdleTimeout = 130 * time.Second
	}
	// quic-go 0.29's "Version2" is draft-ietf-quic-v2 (0x709a50c4), the
	// same draft ngtcp2 0.12.1 implements; the RFC 9369 version is unknown
	// to both.  A quic-go client starts with Versions[0] (no compatible
	// version negotiation), so the v2 client offers v2 right away.
	switch {
	case o.role == "server":
		c.Versions = []quic.VersionNumber{quic.Version1, quic.Version2}
	case o.testcase == "v2" && alpnFor(o.testcase) == alpnH3:
		c.Versions = []quic.VersionNumber{quic.Version2}
	case o.testcase == "v2":
		c.Versions = []quic.VersionNumber{quic.Version2, quic.Version1}
	default: // http3.RoundTripper insists on a single version
		c.Versions = []quic.VersionNumber{quic.Version1}
	}
	if o.role == "server" && o.testcase == "retry" {
		c.RequireAddressValidation = func(net.Addr) bool { return true }
	}
	return c
}

// ---- server ----

func runServer(o *options) int {
	cert, err := tls.LoadX509KeyPair(o.cert, o.key)
	if err != nil {
		logf("loading certificate: %v", err)
		return exitFail
	}
	kl, err := keylogWriter(o)
	if err != nil {
		logf("keylog: %v", err)
		return exitFail
	}
	tlsConf := &tls.Config{
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{alpnFor(o.testcase)},
		KeyLogWriter: kl,
		MinVersion:   tls.VersionTLS13,
	}
	qconf := quicConfig(o)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	if alpnFor(o.testcase) == alpnH3 {
		srv := &http3.Server{
			Addr:       o.listen,
			TLSConfig:  tlsConf,
			QuicConfig: qconf,
			Handler:    http.FileServer(http.Dir(o.www)),
		}
		errc := make(chan error, 1)
		go func() { errc <- srv.ListenAndServe() }()
		select {
		case <-sigs:
			srv.Close()
			return exitOK
		case err := <-errc:
			logf("http3 server: %v", err)
			return exitFail
		}
	}

	ln, err := quic.ListenAddrEarly(o.listen, tlsConf, qconf)
	if err != nil {
		logf("listen %s: %v", o.listen, err)
		return exitFail
	}
	logf("server listening on %s (testcase %s, ALPN %s)", ln.Addr(), o.testcase, alpnHQ)
	var echoed int64
	go func() {
		for {
			conn, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			go serveConn(conn, o, &echoed)
		}
	}()
	<-sigs
	ln.Close()
	if o.testcase == "datagram" {
		fmt.Printf("datagrams echoed=%d\n", atomic.LoadInt64(&echoed))
	}
	return exitOK
}

func serveConn(conn quic.EarlyConnection, o *options, echoed *int64) {
	if o.testcase == "datagram" {
		go func() {
			for {
				msg, err := conn.ReceiveMessage()
				if err != nil {
					return
				}
				if err := conn.SendMessage(msg); err != nil {
					logf("datagram echo: %v", err)
					continue
				}
				atomic.AddInt64(echoed, 1)
			}
		}()
	}
	for {
		str, err := conn.AcceptStream(context.Background())
		if err != nil {
			return
		}
		go serveStream(str, o.www)
	}
}

// serveStream answers one HTTP/0.9 request: "GET /path\r\n", FIN.
func serveStream(str quic.Stream, www string) {
	req, err := io.ReadAll(io.LimitReader(str, 8192))
	if err != nil {
		logf("reading request: %v", err)
		str.CancelWrite(0)
		return
	}
	line := strings.TrimRight(string(req), "\r\n ")
	fields := strings.Fields(line)
	if len(fields) < 2 || fields[0] != "GET" {
		logf("bad request %q", line)
		str.CancelWrite(0)
		return
	}
	p := path.Clean("/" + fields[1])
	f, err := os.Open(filepath.Join(www, filepath.FromSlash(p)))
	if err != nil {
		logf("request %s: %v", p, err)
		str.CancelWrite(0)
		return
	}
	defer f.Close()
	if _, err := io.Copy(str, f); err != nil {
		logf("sending %s: %v", p, err)
		str.CancelWrite(0)
		return
	}
	str.Close()
}

// ---- client ----

// notifyingCache wraps a session cache and signals when a ticket arrives.
type notifyingCache struct {
	tls.ClientSessionCache
	got chan struct{}
	mu  sync.Mutex
}

func (c *notifyingCache) Put(key string, cs *tls.ClientSessionState) {
	c.ClientSessionCache.Put(key, cs)
	if cs != nil {
		c.mu.Lock()
		select {
		case <-c.got:
		default:
			close(c.got)
		}
		c.mu.Unlock()
	}
}

type client struct {
	o       *options
	tlsConf *tls.Config
	qconf   *quic.Config
	cache   *notifyingCache
}

func runClient(o *options) int {
	urls := make([]*url.URL, 0, len(o.urls))
	for _, s := range o.urls {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			logf("bad URL %q", s)
			return exitFail
		}
		urls = append(urls, u)
	}
	kl, err := keylogWriter(o)
	if err != nil {
		logf("keylog: %v", err)
		return exitFail
	}
	if err := os.MkdirAll(o.downloads, 0o755); err != nil {
		logf("downloads: %v", err)
		return exitFail
	}
	c := &client{o: o, cache: &notifyingCache{
		ClientSessionCache: tls.NewLRUClientSessionCache(8), got: make(chan struct{})}}
	c.tlsConf = &tls.Config{
		InsecureSkipVerify: true, // the runner's clients do not verify either
		NextProtos:         []string{alpnFor(o.testcase)},
		KeyLogWriter:       kl,
		ClientSessionCache: c.cache,
		MinVersion:         tls.VersionTLS13,
	}
	c.qconf = quicConfig(o)
	switch o.testcase {
	case "chacha20":
		c.tlsConf.CipherSuites = []uint16{tls.TLS_CHACHA20_POLY1305_SHA256}
	case "keyupdate":
		keyUpdateInterval = 100
	}

	ctx, cancel := context.WithTimeout(context.Background(), clientTimeout(o))
	defer cancel()

	var runErr error
	switch o.testcase {
	case "multiconnect":
		for _, u := range urls {
			if runErr = c.oneConnection(ctx, []*url.URL{u}, false, false); runErr != nil {
				break
			}
		}
	case "resumption", "zerortt":
		zrtt := o.testcase == "zerortt"
		runErr = c.oneConnection(ctx, urls[:1], false, true)
		if runErr == nil && len(urls) > 1 {
			runErr = c.oneConnection(ctx, urls[1:], zrtt, false)
		}
	case "datagram":
		runErr = c.runDatagram(ctx, urls)
	default:
		runErr = c.oneConnection(ctx, urls, false, false)
	}
	if runErr != nil {
		logf("client: %v", runErr)
		return exitFail
	}
	return exitOK
}

func clientTimeout(o *options) time.Duration {
	if s := os.Getenv("QUICGO_PEER_TIMEOUT"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	if patient(o) {
		return 290 * time.Second
	}
	return 120 * time.Second
}

func (c *client) dial(ctx context.Context, host string, early bool) (quic.Connection, error) {
	if early {
		return quic.DialAddrEarlyContext(ctx, host, c.tlsConf, c.qconf)
	}
	return quic.DialAddrContext(ctx, host, c.tlsConf, c.qconf)
}

// oneConnection downloads urls over one connection (hq-interop, or h3
// through http3.RoundTripper).  early: send the requests in 0-RTT;
// waitTicket: keep the connection until a session ticket has arrived
// (first connection of resumption/zerortt).
func (c *client) oneConnection(ctx context.Context, urls []*url.URL, early, waitTicket bool) error {
	host := urls[0].Host
	var conn quic.Connection
	if alpnFor(c.o.testcase) == alpnH3 {
		var mu sync.Mutex
		rt := &http3.RoundTripper{TLSClientConfig: c.tlsConf, QuicConfig: c.qconf,
			Dial: func(ctx context.Context, addr string, tlsCfg *tls.Config, cfg *quic.Config) (quic.EarlyConnection, error) {
				var ec quic.EarlyConnection
				var err error
				if early {
					ec, err = quic.DialAddrEarlyContext(ctx, addr, tlsCfg, cfg)
				} else {
					// no early_data offer unless the case wants 0-RTT
					var c quic.Connection
					if c, err = quic.DialAddrContext(ctx, addr, tlsCfg, cfg); err == nil {
						var ok bool
						if ec, ok = c.(quic.EarlyConnection); !ok {
							c.CloseWithError(0, "")
							return nil, errors.New("connection type")
						}
					}
				}
				if err == nil {
					mu.Lock()
					conn = ec
					mu.Unlock()
				}
				return ec, err
			}}
		defer rt.Close()
		if err := c.downloadAllH3(ctx, rt, urls, early); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if conn == nil {
			return errors.New("no connection")
		}
	} else {
		var err error
		conn, err = c.dial(ctx, host, early)
		if err != nil {
			return fmt.Errorf("dial %s: %w", host, err)
		}
		defer conn.CloseWithError(0, "")
		if err := c.downloadAll(ctx, conn, urls); err != nil {
			return err
		}
	}
	st := conn.ConnectionState().TLS
	logf("connection done: ALPN %s, resumed=%v, 0-RTT=%v, cipher=%s",
		st.NegotiatedProtocol, st.DidResume, st.Used0RTT,
		tls.CipherSuiteName(st.CipherSuite))
	if early && !st.Used0RTT {
		return errors.New("0-RTT was not accepted")
	}
	if c.o.testcase == "resumption" && !waitTicket && !st.DidResume {
		return errors.New("the TLS session was not resumed")
	}
	if waitTicket {
		select {
		case <-c.cache.got:
		case <-time.After(3 * time.Second):
			return errors.New("no session ticket received")
		}
	}
	return nil
}

func (c *client) downloadAll(ctx context.Context, conn quic.Connection, urls []*url.URL) error {
	var wg sync.WaitGroup
	errs := make([]error, len(urls))
	for i, u := range urls {
		wg.Add(1)
		go func(i int, u *url.URL) {
			defer wg.Done()
			errs[i] = c.download(ctx, conn, u)
		}(i, u)
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (c *client) download(ctx context.Context, conn quic.Connection, u *url.URL) error {
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return fmt.Errorf("open stream: %w", err)
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if _, err := str.Write([]byte("GET " + p + "\r\n")); err != nil {
		return fmt.Errorf("send request %s: %w", p, err)
	}
	str.Close()
	return saveBody(c.o.downloads, u, str)
}

func saveBody(dir string, u *url.URL, r io.Reader) error {
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "index.html"
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	n, err := io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("download %s: %w", u.Path, err)
	}
	logf("downloaded %s (%d bytes)", u.Path, n)
	return nil
}

func (c *client) downloadAllH3(ctx context.Context, rt *http3.RoundTripper, urls []*url.URL, early bool) error {
	method := http.MethodGet
	if early {
		method = http3.MethodGet0RTT
	}
	var wg sync.WaitGroup
	errs := make([]error, len(urls))
	for i, u := range urls {
		wg.Add(1)
		go func(i int, u *url.URL) {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
			if err != nil {
				errs[i] = err
				return
			}
			resp, err := rt.RoundTrip(req)
			if err != nil {
				errs[i] = fmt.Errorf("GET %s: %w", u, err)
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs[i] = fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
				return
			}
			errs[i] = saveBody(c.o.downloads, u, resp.Body)
		}(i, u)
	}
	wg.Wait()
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func (c *client) runDatagram(ctx context.Context, urls []*url.URL) error {
	n := 50
	if s := os.Getenv("JVPN_INTEROP_DATAGRAMS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return fmt.Errorf("bad JVPN_INTEROP_DATAGRAMS %q", s)
		}
		n = v
	}
	host := urls[0].Host
	conn, err := c.dial(ctx, host, false)
	if err != nil {
		return fmt.Errorf("dial %s: %w", host, err)
	}
	defer conn.CloseWithError(0, "")
	if !conn.ConnectionState().SupportsDatagrams {
		fmt.Printf("datagrams sent=0 echoed=0\n")
		return errors.New("peer does not support DATAGRAM frames")
	}

	mk := func(i int) []byte {
		b := make([]byte, 100)
		binary.BigEndian.PutUint32(b, uint32(i))
		for j := 4; j < len(b); j++ {
			b[j] = byte(i*7 + j)
		}
		return b
	}
	seen := make([]bool, n)
	var echoed int64
	allEchoed := make(chan struct{})
	go func() {
		var cnt int
		for {
			msg, err := conn.ReceiveMessage()
			if err != nil {
				return
			}
			if len(msg) != 100 {
				logf("datagram of %d bytes ignored", len(msg))
				continue
			}
			i := int(binary.BigEndian.Uint32(msg))
			if i >= n || seen[i] || string(msg) != string(mk(i)) {
				logf("unexpected/duplicate datagram %d ignored", i)
				continue
			}
			seen[i] = true
			cnt++
			atomic.StoreInt64(&echoed, int64(cnt))
			if cnt == n {
				close(allEchoed)
				return
			}
		}
	}()

	dlErr := make(chan error, 1)
	go func() { dlErr <- c.downloadAll(ctx, conn, urls) }()

	sent := 0
	for i := 0; i < n; i++ {
		if err := conn.SendMessage(mk(i)); err != nil {
			logf("send datagram %d: %v", i, err)
			continue
		}
		sent++
		time.Sleep(2 * time.Millisecond)
	}
	if n == 0 {
		close(allEchoed)
	}
	select {
	case <-allEchoed:
	case <-time.After(10 * time.Second):
	}
	m := atomic.LoadInt64(&echoed)
	fmt.Printf("datagrams sent=%d echoed=%d\n", sent, m)
	if err := <-dlErr; err != nil {
		return err
	}
	if sent != n || int(m) != sent {
		return fmt.Errorf("only %d of %d datagrams echoed", m, n)
	}
	return nil
}
