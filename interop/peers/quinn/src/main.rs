//! quinn-peer: an interop peer for jvpn-quic built on quinn 0.9 + rustls 0.20
//! (Debian's librust-quinn-dev).  It follows the endpoint contract of
//! interop/README.md; see README.md next to this file for what it supports.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

const EXIT_OK: i32 = 0;
const EXIT_FAIL: i32 = 1;
const EXIT_UNSUPPORTED: i32 = 127;
const ALPN_HQ: &[u8] = b"hq-interop";

/// Cases the server side can do (everything else: 127).
/// http3: Debian has no h3/h3-quinn crate.  v2: quinn-proto 0.9 knows only
/// QUIC v1 and drafts 29-34.
const SERVER_CASES: &[&str] = &[
    "handshake", "transfer", "retry", "resumption", "zerortt", "multiconnect",
    "chacha20", "keyupdate", "rebind-port", "rebind-addr", "connectionmigration",
    "transferloss", "handshakeloss", "amplificationlimit", "blackhole", "ecn",
    "datagram",
];
const CLIENT_CASES: &[&str] = &[
    "handshake", "transfer", "retry", "resumption", "zerortt", "multiconnect",
    "chacha20", "keyupdate", "rebind-port", "rebind-addr", "connectionmigration",
    "transferloss", "handshakeloss", "amplificationlimit", "blackhole", "ecn",
    "datagram",
];

#[derive(Default, Debug)]
struct Opts {
    role: String,
    listen: Option<String>,
    cert: Option<String>,
    key: Option<String>,
    www: Option<String>,
    testcase: String,
    qlog_dir: Option<String>,
    keylog: Option<String>,
    downloads: Option<String>,
    urls: Vec<String>,
}

macro_rules! log {
    ($($arg:tt)*) => { eprintln!("quinn-peer: {}", format!($($arg)*)) };
}

fn usage() -> i32 {
    eprintln!(
        "usage: quinn-peer server --listen ADDR:PORT --cert FILE --key FILE --www DIR\n\
         \x20                 --testcase NAME [--qlog-dir DIR] [--keylog FILE]\n\
         \x20      quinn-peer client --testcase NAME --downloads DIR\n\
         \x20                 [--qlog-dir DIR] [--keylog FILE] URL..."
    );
    2
}

fn parse_args(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let role = args.first().ok_or("missing role")?;
    if role != "server" && role != "client" {
        return Err("first argument must be server or client".into());
    }
    o.role = role.clone();
    let mut i = 1;
    while i < args.len() {
        let a = &args[i];
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        if !name.starts_with('-') {
            o.urls.push(a.clone());
            i += 1;
            continue;
        }
        let val = match inline {
            Some(v) => v,
            None => {
                i += 1;
                args.get(i).cloned().ok_or(format!("option {} needs a value", name))?
            }
        };
        match name.as_str() {
            "--listen" => o.listen = Some(val),
            "--cert" => o.cert = Some(val),
            "--key" => o.key = Some(val),
            "--www" => o.www = Some(val),
            "--testcase" => o.testcase = val,
            "--qlog-dir" => o.qlog_dir = Some(val),
            "--keylog" => o.keylog = Some(val),
            "--downloads" => o.downloads = Some(val),
            _ => return Err(format!("unknown option {}", name)),
        }
        i += 1;
    }
    Ok(o)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut o = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            log!("{}", e);
            std::process::exit(usage());
        }
    };
    if o.testcase.is_empty() {
        o.testcase = std::env::var("TESTCASE").unwrap_or_default();
    }
    if o.keylog.is_none() {
        o.keylog = std::env::var("SSLKEYLOGFILE").ok().filter(|s| !s.is_empty());
    }
    if std::env::var("INTEROP_ALPN").map(|v| v == "h3").unwrap_or(false) {
        // the runner wants h3 for every case (h3-only peer): no h3 here
        log!("{}: INTEROP_ALPN=h3 but this peer has no HTTP/3 (no h3 crate in Debian)", o.role);
        std::process::exit(EXIT_UNSUPPORTED);
    }
    let cases = if o.role == "server" { SERVER_CASES } else { CLIENT_CASES };
    if !cases.contains(&o.testcase.as_str()) {
        log!("{}: test case {:?} not supported", o.role, o.testcase);
        std::process::exit(EXIT_UNSUPPORTED);
    }
    if o.role == "server"
        && (o.listen.is_none() || o.cert.is_none() || o.key.is_none() || o.www.is_none())
    {
        std::process::exit(usage());
    }
    if o.role == "client" && (o.downloads.is_none() || o.urls.is_empty()) {
        std::process::exit(usage());
    }
    if o.qlog_dir.is_some() {
        log!("note: quinn 0.9 has no qlog support; --qlog-dir ignored");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async {
        if o.role == "server" {
            run_server(o).await
        } else {
            run_client(o).await
        }
    });
    rt.shutdown_timeout(Duration::from_millis(200));
    std::process::exit(code);
}

// ---------- shared ----------

/// NSS key log lines appended to a file.
struct KeyLogAppend(Mutex<File>);

impl rustls::KeyLog for KeyLogAppend {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let line = format!("{} {} {}\n", label, hex(client_random), hex(secret));
        if let Ok(mut f) = self.0.lock() {
            let _ = f.write_all(line.as_bytes());
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{:02x}", x)).collect()
}

fn keylog(o: &Opts) -> Result<Option<Arc<dyn rustls::KeyLog>>, String> {
    match &o.keylog {
        None => Ok(None),
        Some(p) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| format!("keylog {}: {}", p, e))?;
            Ok(Some(Arc::new(KeyLogAppend(Mutex::new(f)))))
        }
    }
}

/// The runner's handshakeloss reaches the endpoints as "multiconnect" (50
/// connections, 30 % loss each way). ngtcp2 0.12.1 resends a lost
/// Handshake flight one packet per PTO (after 1, 3, 7, 15, ... s), so
/// every stack waits as long as the jvpn endpoint (interop/interop.h):
/// 130 s of silence (quinn 0.9's only handshake bound), 290 s for the
/// whole run (the case's bound is 300 s).
fn patient(o: &Opts) -> bool {
    o.testcase == "multiconnect"
}

fn idle_secs(o: &Opts) -> u64 {
    if patient(o) {
        130
    } else {
        30
    }
}

fn transport(o: &Opts) -> Arc<quinn::TransportConfig> {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(Duration::from_secs(idle_secs(o)).try_into().unwrap()));
    if o.testcase == "datagram" {
        // advertises max_datagram_frame_size (quinn: 65535)
        t.datagram_receive_buffer_size(Some(1 << 20));
    } else {
        t.datagram_receive_buffer_size(None);
    }
    Arc::new(t)
}

fn tls13_suites(o: &Opts) -> Vec<rustls::SupportedCipherSuite> {
    if o.testcase == "chacha20" {
        vec![rustls::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256]
    } else {
        vec![
            rustls::cipher_suite::TLS13_AES_128_GCM_SHA256,
            rustls::cipher_suite::TLS13_AES_256_GCM_SHA384,
            rustls::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ]
    }
}

// ---------- server ----------

fn load_certs(o: &Opts) -> Result<(Vec<rustls::Certificate>, rustls::PrivateKey), String> {
    let cp = o.cert.as_ref().unwrap();
    let kp = o.key.as_ref().unwrap();
    let mut r = BufReader::new(File::open(cp).map_err(|e| format!("{}: {}", cp, e))?);
    let certs: Vec<rustls::Certificate> = rustls_pemfile::certs(&mut r)
        .map_err(|e| format!("{}: {}", cp, e))?
        .into_iter()
        .map(rustls::Certificate)
        .collect();
    if certs.is_empty() {
        return Err(format!("{}: no certificate", cp));
    }
    let mut r = BufReader::new(File::open(kp).map_err(|e| format!("{}: {}", kp, e))?);
    let mut key = None;
    for item in rustls_pemfile::read_all(&mut r).map_err(|e| format!("{}: {}", kp, e))? {
        match item {
            rustls_pemfile::Item::PKCS8Key(k)
            | rustls_pemfile::Item::RSAKey(k)
            | rustls_pemfile::Item::ECKey(k) => {
                key = Some(rustls::PrivateKey(k));
                break;
            }
            _ => {}
        }
    }
    Ok((certs, key.ok_or(format!("{}: no private key", kp))?))
}

async fn run_server(o: Opts) -> i32 {
    match server_main(o).await {
        Ok(()) => EXIT_OK,
        Err(e) => {
            log!("server: {}", e);
            EXIT_FAIL
        }
    }
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>().map_err(|e| format!("bad --listen {}: {}", s, e))
}

async fn server_main(o: Opts) -> Result<(), String> {
    let (certs, key) = load_certs(&o)?;
    let mut tls = rustls::ServerConfig::builder()
        .with_cipher_suites(&tls13_suites(&o))
        .with_safe_default_kx_groups()
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate: {}", e))?;
    tls.alpn_protocols = vec![ALPN_HQ.to_vec()];
    tls.max_early_data_size = u32::MAX; // QUIC: enables 0-RTT
    if let Some(k) = keylog(&o)? {
        tls.key_log = k;
    }
    let mut sc = quinn::ServerConfig::with_crypto(Arc::new(tls));
    sc.transport_config(transport(&o));
    sc.use_retry(o.testcase == "retry");
    sc.migration(true);
    let addr = parse_listen(o.listen.as_ref().unwrap())?;
    let endpoint = quinn::Endpoint::server(sc, addr).map_err(|e| format!("listen {}: {}", addr, e))?;
    log!("server listening on {} (testcase {})", addr, o.testcase);

    let www = PathBuf::from(o.www.clone().unwrap());
    let echoed = Arc::new(AtomicU64::new(0));
    let datagrams = o.testcase == "datagram";
    let zerortt = o.testcase == "zerortt";
    let ep = endpoint.clone();
    let echoed2 = echoed.clone();
    let acceptor = tokio::spawn(async move {
        while let Some(connecting) = ep.accept().await {
            let www = www.clone();
            let echoed = echoed2.clone();
            tokio::spawn(async move {
                let conn = if zerortt {
                    match connecting.into_0rtt() {
                        Ok((c, _)) => c,
                        Err(connecting) => match connecting.await {
                            Ok(c) => c,
                            Err(e) => return log!("handshake failed: {}", e),
                        },
                    }
                } else {
                    match connecting.await {
                        Ok(c) => c,
                        Err(e) => return log!("handshake failed: {}", e),
                    }
                };
                serve_conn(conn, www, datagrams, echoed).await;
            });
        }
    });

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
    acceptor.abort();
    endpoint.close(0u32.into(), b"bye");
    if datagrams {
        println!("datagrams echoed={}", echoed.load(Ordering::SeqCst));
    }
    Ok(())
}

async fn serve_conn(conn: quinn::Connection, www: PathBuf, datagrams: bool, echoed: Arc<AtomicU64>) {
    if datagrams {
        let c = conn.clone();
        tokio::spawn(async move {
            while let Ok(d) = c.read_datagram().await {
                match c.send_datagram(d) {
                    Ok(()) => {
                        echoed.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => log!("datagram echo: {}", e),
                }
            }
        });
    }
    loop {
        match conn.accept_bi().await {
            Ok((send, recv)) => {
                let www = www.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_stream(send, recv, &www).await {
                        log!("stream: {}", e);
                    }
                });
            }
            Err(quinn::ConnectionError::ApplicationClosed(_))
            | Err(quinn::ConnectionError::LocallyClosed) => return,
            Err(e) => return log!("connection: {}", e),
        }
    }
}

/// One HTTP/0.9 request: "GET /path\r\n" + FIN -> file bytes + FIN.
async fn serve_stream(mut send: quinn::SendStream, recv: quinn::RecvStream, www: &Path) -> Result<(), String> {
    let req = recv.read_to_end(8192).await.map_err(|e| format!("request: {}", e))?;
    let line = String::from_utf8_lossy(&req);
    let mut it = line.split_whitespace();
    let (m, p) = (it.next(), it.next());
    let p = match (m, p) {
        (Some("GET"), Some(p)) => p.to_string(),
        _ => {
            let _ = send.reset(0u32.into());
            return Err(format!("bad request {:?}", line));
        }
    };
    // keep the path inside www: drop "..", "." and empty components
    let mut file = www.to_path_buf();
    for comp in p.split('/') {
        if comp.is_empty() || comp == "." || comp == ".." {
            continue;
        }
        file.push(comp);
    }
    let data = match tokio::fs::read(&file).await {
        Ok(d) => d,
        Err(e) => {
            let _ = send.reset(0u32.into());
            return Err(format!("{}: {}", file.display(), e));
        }
    };
    send.write_all(&data).await.map_err(|e| format!("send {}: {}", p, e))?;
    send.finish().await.map_err(|e| format!("finish {}: {}", p, e))?;
    Ok(())
}

// ---------- client ----------

struct NoVerify;

impl rustls::client::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::Certificate,
        _intermediates: &[rustls::Certificate],
        _server_name: &rustls::ServerName,
        _scts: &mut dyn Iterator<Item = &[u8]>,
        _ocsp: &[u8],
        _now: std::time::SystemTime,
    ) -> Result<rustls::client::ServerCertVerified, rustls::Error> {
        // the runner's clients do not verify the (self-signed) certificate
        Ok(rustls::client::ServerCertVerified::assertion())
    }
}

struct Target {
    addr: SocketAddr,
    sni: String,
    path: String,
    name: String,
}

fn parse_url(u: &str) -> Result<Target, String> {
    let rest = u.strip_prefix("https://").ok_or(format!("bad URL {}", u))?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("{}: {}", hostport, e))?
        .next()
        .ok_or(format!("{}: no address", hostport))?;
    let host = if hostport.starts_with('[') {
        hostport[1..hostport.find(']').unwrap_or(1)].to_string()
    } else {
        hostport.rsplit_once(':').map(|x| x.0).unwrap_or(hostport).to_string()
    };
    // rustls 0.20 only sends DNS names as SNI; IP literals get "localhost"
    let sni = if host.parse::<std::net::IpAddr>().is_ok() { "localhost".to_string() } else { host };
    let name = path.rsplit('/').next().filter(|s| !s.is_empty()).unwrap_or("index.html").to_string();
    Ok(Target { addr, sni, path: path.to_string(), name })
}

struct Client {
    o: Opts,
    endpoint: quinn::Endpoint,
    dir: PathBuf,
}

async fn run_client(o: Opts) -> i32 {
    let deadline = std::env::var("QUINN_PEER_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if patient(&o) { 290u64 } else { 120u64 });
    match tokio::time::timeout(Duration::from_secs(deadline), client_main(o)).await {
        Ok(Ok(())) => EXIT_OK,
        Ok(Err(e)) => {
            log!("client: {}", e);
            EXIT_FAIL
        }
        Err(_) => {
            log!("client: timed out after {} s", deadline);
            EXIT_FAIL
        }
    }
}

fn unspecified_for(addr: &SocketAddr) -> SocketAddr {
    if addr.is_ipv6() {
        "[::]:0".parse().unwrap()
    } else {
        "0.0.0.0:0".parse().unwrap()
    }
}

async fn client_main(o: Opts) -> Result<(), String> {
    let targets: Vec<Target> = o.urls.iter().map(|u| parse_url(u)).collect::<Result<_, _>>()?;
    let dir = PathBuf::from(o.downloads.clone().unwrap());
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {}", dir.display(), e))?;

    let mut tls = rustls::ClientConfig::builder()
        .with_cipher_suites(&tls13_suites(&o))
        .with_safe_default_kx_groups()
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_HQ.to_vec()];
    tls.enable_early_data = o.testcase == "zerortt";
    if let Some(k) = keylog(&o)? {
        tls.key_log = k;
    }
    let mut cc = quinn::ClientConfig::new(Arc::new(tls));
    cc.transport_config(transport(&o));
    let mut endpoint = quinn::Endpoint::client(unspecified_for(&targets[0].addr))
        .map_err(|e| format!("bind: {}", e))?;
    endpoint.set_default_client_config(cc);
    let c = Client { o, endpoint, dir };

    let res = match c.o.testcase.as_str() {
        "multiconnect" => {
            for t in &targets {
                c.one_connection(std::slice::from_ref(t), false).await?;
            }
            Ok(())
        }
        "resumption" | "zerortt" => {
            c.one_connection(&targets[..1], false).await?;
            if targets.len() > 1 {
                c.one_connection(&targets[1..], c.o.testcase == "zerortt").await?;
            }
            Ok(())
        }
        _ => c.one_connection(&targets, false).await,
    };
    c.endpoint.wait_idle().await;
    res
}

impl Client {
    async fn one_connection(&self, targets: &[Target], early: bool) -> Result<(), String> {
        let t0 = &targets[0];
        let connecting = self.endpoint.connect(t0.addr, &t0.sni).map_err(|e| format!("connect: {}", e))?;
        let conn;
        let mut accepted = None;
        if early {
            match connecting.into_0rtt() {
                Ok((c, acc)) => {
                    conn = c;
                    accepted = Some(acc);
                }
                Err(_) => return Err("no 0-RTT possible (no session ticket?)".into()),
            }
        } else {
            conn = connecting.await.map_err(|e| format!("handshake: {}", e))?;
        }
        let res = self.run_on(&conn, targets).await;
        if let Some(acc) = accepted {
            let ok = acc.await;
            log!("0-RTT accepted: {}", ok);
            if !ok && res.is_ok() {
                conn.close(0u32.into(), b"");
                return Err("0-RTT was rejected".into());
            }
        }
        if res.is_ok() && (self.o.testcase == "resumption" || self.o.testcase == "zerortt") {
            // give the server's NewSessionTicket a moment to arrive
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        conn.close(0u32.into(), b"");
        res
    }

    async fn run_on(&self, conn: &quinn::Connection, targets: &[Target]) -> Result<(), String> {
        let tc = self.o.testcase.as_str();
        let key_update_done = Arc::new(std::sync::atomic::AtomicBool::new(tc != "keyupdate"));
        if tc == "connectionmigration" {
            // migrate to a new local port (and path) once the handshake is done
            let conn2 = conn.clone();
            let ep = self.endpoint.clone();
            let bind = unspecified_for(&conn.remote_address());
            tokio::spawn(async move {
                tokio::time::sleep(conn2.rtt().max(Duration::from_millis(10))).await;
                match std::net::UdpSocket::bind(bind).and_then(|s| ep.rebind(s)) {
                    Ok(()) => log!("migrated to {:?}", ep.local_addr()),
                    Err(e) => log!("migration failed: {}", e),
                }
            });
        }
        let mut dl = Vec::new();
        for t in targets {
            dl.push(self.download(conn, t, key_update_done.clone()));
        }
        let dg = async {
            if tc == "datagram" {
                datagram_test(conn).await
            } else {
                Ok(())
            }
        };
        let (dls, dgr) = tokio::join!(futures_join_all(dl), dg);
        for r in dls {
            r?;
        }
        dgr
    }

    async fn download(
        &self,
        conn: &quinn::Connection,
        t: &Target,
        key_update_done: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<(), String> {
        let (mut send, mut recv) = conn.open_bi().await.map_err(|e| format!("open stream: {}", e))?;
        send.write_all(format!("GET {}\r\n", t.path).as_bytes())
            .await
            .map_err(|e| format!("request {}: {}", t.path, e))?;
        send.finish().await.map_err(|e| format!("request {}: {}", t.path, e))?;
        let file = self.dir.join(&t.name);
        let mut f = File::create(&file).map_err(|e| format!("{}: {}", file.display(), e))?;
        let mut n = 0usize;
        loop {
            match recv.read_chunk(1 << 16, true).await {
                Ok(Some(chunk)) => {
                    // response data means 1-RTT keys work and HANDSHAKE_DONE
                    // has been sent: the handshake is confirmed.
                    if !key_update_done.swap(true, Ordering::SeqCst) {
                        log!("initiating key update");
                        conn.force_key_update();
                    }
                    n += chunk.bytes.len();
                    f.write_all(&chunk.bytes).map_err(|e| format!("{}: {}", file.display(), e))?;
                }
                Ok(None) => break,
                Err(e) => return Err(format!("download {}: {}", t.path, e)),
            }
        }
        log!("downloaded {} ({} bytes)", t.path, n);
        Ok(())
    }
}

/// Await a list of futures concurrently (no futures crate in the offline set).
async fn futures_join_all<F: std::future::Future<Output = Result<(), String>>>(
    futs: Vec<F>,
) -> Vec<Result<(), String>> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<Result<(), String>>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in pinned.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(r) => out[i] = Some(r),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|r| r.unwrap()).collect()
}

fn datagram_payload(i: u32) -> Vec<u8> {
    let mut b = vec![0u8; 100];
    b[..4].copy_from_slice(&i.to_be_bytes());
    for (j, x) in b.iter_mut().enumerate().skip(4) {
        *x = (i as usize * 7 + j) as u8;
    }
    b
}

async fn datagram_test(conn: &quinn::Connection) -> Result<(), String> {
    let n: u32 = match std::env::var("JVPN_INTEROP_DATAGRAMS") {
        Ok(s) => s.parse().map_err(|_| format!("bad JVPN_INTEROP_DATAGRAMS {:?}", s))?,
        Err(_) => 50,
    };
    if conn.max_datagram_size().is_none() {
        println!("datagrams sent=0 echoed=0");
        return Err("peer does not support DATAGRAM frames".into());
    }
    let mut seen = vec![false; n as usize];
    let mut echoed = 0u32;
    let mut sent = 0u32;
    let mut next = 0u32;
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    let mut deadline: Option<Instant> = None;
    while echoed < n {
        if next == n && deadline.is_none() {
            deadline = Some(Instant::now() + Duration::from_secs(10));
        }
        let wait = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => Duration::from_secs(3600),
        };
        if wait.is_zero() {
            break;
        }
        tokio::select! {
            _ = tick.tick(), if next < n => {
                match conn.send_datagram(Bytes::from(datagram_payload(next))) {
                    Ok(()) => sent += 1,
                    Err(e) => log!("send datagram {}: {}", next, e),
                }
                next += 1;
            }
            r = conn.read_datagram() => {
                let d = r.map_err(|e| format!("read datagram: {}", e))?;
                if d.len() != 100 {
                    log!("datagram of {} bytes ignored", d.len());
                    continue;
                }
                let i = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
                if i >= n || seen[i as usize] || d[..] != datagram_payload(i)[..] {
                    log!("unexpected/duplicate datagram {} ignored", i);
                    continue;
                }
                seen[i as usize] = true;
                echoed += 1;
            }
            _ = tokio::time::sleep(wait) => break,
        }
    }
    println!("datagrams sent={} echoed={}", sent, echoed);
    if sent == n && echoed == sent {
        Ok(())
    } else {
        Err(format!("only {} of {} datagrams echoed", echoed, n))
    }
}
