//! A load benchmark over loopback: an axum hello-world and a JSON endpoint,
//! served bare and through the full stack (`WeightedRouter`, `ShadowLayer`,
//! the standard comparator, `Health` and a ticking `Rollout`), driven by a
//! real HTTP/1.1 client over keep-alive connections.
//!
//! Every server variant runs in its own process (this binary with `--serve
//! VARIANT`), so its peak memory can be read from `/proc/PID/status`. All
//! variants are measured in one run, in rounds; every other round runs the
//! variants (and the endpoints) in reverse order, so that a drift on the
//! machine favours none of them. The ratios to bare are what counts.
//!
//! Each measurement has two parts, after a warm-up with the same generator:
//!
//! - **throughput**: every connection sends its next request as soon as the
//!   answer arrives (closed loop, the machine saturated): requests a second
//!   and the server's CPU time per request (all its threads, from
//!   `/proc/PID/task/*/schedstat`);
//! - **latency**: a fixed total rate (open loop, 20 000 requests a second by
//!   default, well below every variant's capacity), each connection sending
//!   on a schedule: p50 and p99. At saturation, latency measures the queue
//!   more than the server, and its p99 swings with the scheduler.
//!
//! ```sh
//! cargo run --release --example load                # full run, 1M-request soak
//! cargo run --release --example load -- --quick     # a smoke run, ~30 s
//! cargo run --release --example load -- --check     # exit 1 if a target fails
//! ```
//!
//! Flags: `--duration S` (each part of a measurement, default 5),
//! `--warmup S` (1), `--rounds N` (4), `--connections N` (32),
//! `--client-threads N` (1), `--soak N` (requests, default 1000000; 0
//! skips it), `--quick`, `--check`, `--rate R` (of the latency part),
//! `--only V,V` (measure only these variants, and `bare`), `--wrk` (the
//! throughput part from wrk, one thread, instead of the built-in client: a
//! lighter generator leaves more of a shared machine to the server),
//! `--pin` (the server on the last core alone, the generator on the others,
//! with `taskset`).

#[path = "common/bench_app.rs"]
mod bench_app;

use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bench_app::app;
use bytes::Bytes;
use hdrhistogram::Histogram;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::make::Shared;
use tower::ServiceExt;
use tower_shadow::health::Health;
use tower_shadow::rollout::{Rollout, RolloutHandle};
use tower_shadow::router::Weights;
use tower_shadow::sample::Random;
use tower_shadow::shadow::ShadowLayer;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The server variants, in the order each round measures them.
const VARIANTS: [&str; 7] = [
    "bare", "mapped", "full-0", "full-1", "full-100", "slow-100", "fail-100",
];
const ENDPOINTS: [&str; 2] = ["/hello", "/json"];

/// `--serve VARIANT`: serves the variant on 127.0.0.1:0 and its health on
/// a second port (so that reading it is neither routed nor shadowed),
/// prints both addresses, serves until killed.
///
/// Each variant is served as a user would serve it: the bare `Router`, or
/// the whole stack wrapping it, handed to `axum::serve` as one service.
fn serve(name: &str) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let stats_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!(
            "{} {}",
            listener.local_addr()?,
            stats_listener.local_addr()?
        );
        let (percent, candidate) = match name {
            "bare" => {
                axum::serve(listener, app(None, false, false)).await?;
                return Ok(());
            }
            // A control: the app served exactly as the stack is (one
            // service through `Shared`, the response mapped to axum's),
            // without tower-shadow; how far it lands from `bare` shows how
            // much two processes of the same server differ.
            "mapped" => {
                let app = app(None, false, false);
                let app = ServiceExt::<Request<Body>>::map_response(app, IntoResponse::into_response);
                axum::serve(listener, Shared::new(app)).await?;
                return Ok(());
            }
            "full-0" => (0.0, app(None, false, false)),
            "full-1" => (1.0, app(None, false, false)),
            "full-100" => (100.0, app(None, false, false)),
            "slow-100" => (100.0, app(Some(Duration::from_millis(500)), false, false)),
            "fail-100" => (100.0, app(None, true, false)),
            "stuck-100" => (100.0, app(None, false, true)),
            other => return Err(format!("unknown variant {other}").into()),
        };
        let rollout = Rollout::builder(Health::new(), Weights::new(0.0)).build();
        let layer = ShadowLayer::builder(candidate).sampler(Random::percent(percent));
        let stack = rollout.service_with(app(None, false, false), layer);
        let stack = ServiceExt::<Request<Body>>::map_response(stack, IntoResponse::into_response);
        let health = rollout.health().clone();
        let watched = rollout.clone();
        let stats = get(move || async move {
            let s = health.snapshot();
            format!(
                "stage {:?} canary weight {} sampled {} skipped {} (overloaded {}) pairs {} candidate errors {} timeouts {} in flight {}",
                watched.stage(),
                watched.weights().canary(),
                s.sampled,
                s.skipped,
                s.skipped_reasons.overloaded,
                s.pairs,
                s.candidate_errors,
                s.candidate_timeouts,
                s.in_flight
            )
        });
        let stats = axum::serve(stats_listener, Router::new().route("/", stats));
        tokio::spawn(std::future::IntoFuture::into_future(stats));
        let _ticking: RolloutHandle = rollout.spawn();
        axum::serve(listener, Shared::new(stack)).await?;
        Ok(())
    })
}

/// Keeps this process (the load generator) off the server's core.
fn pin_generator(server: usize) -> Result<(), Error> {
    let others = format!("0-{}", server.saturating_sub(1));
    let status = Command::new("taskset")
        .args(["-a", "-p", "-c", &others, &std::process::id().to_string()])
        .stdout(Stdio::null())
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err("taskset failed".into())
    }
}

/// A server process, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
    stats: SocketAddr,
}

impl Server {
    /// Starts `variant`; with `pin`, on that core only (`taskset`).
    fn start(variant: &str, pin: Option<usize>) -> Result<Self, Error> {
        let exe = std::env::current_exe()?;
        let mut command = if let Some(core) = pin {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", &core.to_string()]).arg(exe);
            taskset
        } else {
            Command::new(exe)
        };
        let mut child = command
            .args(["--serve", variant])
            .stdout(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line)?;
        let (addr, stats) = line.trim().split_once(' ').ok_or("no stats address")?;
        Ok(Self {
            child,
            addr: addr.parse()?,
            stats: stats.parse()?,
        })
    }

    /// CPU time of all the server's threads so far, from
    /// `/proc/PID/task/*/schedstat` (nanoseconds on CPU).
    fn cpu(&self) -> Result<Duration, Error> {
        let mut total = 0u64;
        for task in std::fs::read_dir(format!("/proc/{}/task", self.child.id()))? {
            // A thread may end between the listing and the read.
            let Ok(stat) = std::fs::read_to_string(task?.path().join("schedstat")) else {
                continue;
            };
            total += stat
                .split_whitespace()
                .next()
                .ok_or("empty schedstat")?
                .parse::<u64>()?;
        }
        Ok(Duration::from_nanos(total))
    }

    /// Peak resident set size (VmHWM), in KiB.
    fn peak_rss_kib(&self) -> Result<u64, Error> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .ok_or("no VmHWM")?;
        Ok(line.split_whitespace().nth(1).ok_or("bad VmHWM")?.parse()?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One measurement: requests answered, errors, wall time, latencies (ns).
struct Run {
    ok: u64,
    errors: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
    /// CPU time the server spent (all its threads), when measured.
    server_cpu: Duration,
}

impl Run {
    fn new() -> Self {
        Self {
            ok: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds"),
            server_cpu: Duration::ZERO,
        }
    }

    fn add(&mut self, other: &Run) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.server_cpu += other.server_cpu;
        self.latency.add(&other.latency).expect("same bounds");
    }

    fn rps(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Server CPU time per answered request, in µs: what the server costs
    /// for one request, whoever else shares the machine.
    fn cpu_per_request(&self) -> f64 {
        self.server_cpu.as_secs_f64() * 1e6 / self.ok.max(1) as f64
    }

    /// The latency quantile `q` in µs.
    fn p(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }
}

/// Drives `addr` with `connections` keep-alive HTTP/1.1 connections, each
/// sending one request at a time, until `until` or until `budget` requests
/// have been sent.
async fn drive(
    addr: SocketAddr,
    path: &'static str,
    connections: usize,
    until: Instant,
    budget: u64,
    rate: Option<f64>,
) -> Result<Run, Error> {
    let left = Arc::new(AtomicU64::new(budget));
    let start = Instant::now();
    // With a rate, each connection sends on a fixed schedule, so a stall is
    // followed by a burst that catches up rather than hiding the requests
    // it held back. Latency still counts from the actual send: tokio's
    // timer wakes on 1 ms ticks, which would otherwise be counted too.
    let every = rate.map(|r| Duration::from_secs_f64(connections as f64 / r));
    let mut tasks = Vec::new();
    for c in 0..connections {
        let left = Arc::clone(&left);
        tasks.push(tokio::spawn(async move {
            let mut run = Run::new();
            let mut next =
                start + every.map_or(Duration::ZERO, |e| e * c as u32 / connections as u32);
            'connect: while Instant::now() < until {
                let stream = tokio::net::TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                let (mut send, conn) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
                tokio::spawn(conn);
                while Instant::now() < until {
                    if left
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                        .is_err()
                    {
                        break 'connect;
                    }
                    let req = Request::get(path)
                        .header("host", "localhost")
                        .body(Empty::<Bytes>::new())?;
                    if let Some(every) = every {
                        tokio::time::sleep_until(next.into()).await;
                        next += every;
                    }
                    let sent = Instant::now();
                    let answer = async {
                        let res = send.send_request(req).await?;
                        let ok = res.status() == StatusCode::OK;
                        res.into_body().collect().await?;
                        Ok::<bool, Error>(ok)
                    }
                    .await;
                    match answer {
                        Ok(true) => {
                            run.ok += 1;
                            run.latency.record(sent.elapsed().as_nanos() as u64)?;
                        }
                        Ok(false) => run.errors += 1,
                        Err(_) => {
                            run.errors += 1;
                            continue 'connect;
                        }
                    }
                }
            }
            Ok::<Run, Error>(run)
        }));
    }
    let mut total = Run::new();
    for task in tasks {
        total.add(&task.await??);
    }
    total.elapsed = start.elapsed();
    Ok(total)
}

/// One measurement by wrk (`--wrk`): one thread, `connections`
/// keep-alive connections, for `duration`.
async fn wrk(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    duration: Duration,
) -> Result<Run, Error> {
    let output = tokio::process::Command::new("wrk")
        .args(["-t1", "-c"])
        .arg(connections.to_string())
        .arg("-d")
        .arg(format!("{}s", duration.as_secs().max(1)))
        .arg(format!("http://{addr}{path}"))
        .output()
        .await
        .map_err(|e| format!("cannot run wrk ({e}); install it: apt-get install -y wrk"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("wrk failed: {text}").into());
    }
    // "  123456 requests in 5.00s, 12.3MB read"
    let (total, rest) = text
        .lines()
        .find_map(|l| l.split_once(" requests in "))
        .ok_or("no request count in wrk's output")?;
    let seconds = rest.split_once('s').ok_or("no time in wrk's output")?.0;
    // Only present when some answers were not 2xx or 3xx.
    let errors = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .map_or(Ok(0), |n| n.trim().parse::<u64>())?;
    let mut run = Run::new();
    run.ok = total.trim().parse::<u64>()?.saturating_sub(errors);
    run.errors = errors;
    run.elapsed = Duration::from_secs_f64(seconds.parse()?);
    Ok(run)
}

async fn get_text(addr: SocketAddr, path: &str) -> Result<String, Error> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = Request::get(path)
        .header("host", "localhost")
        .body(Empty::<Bytes>::new())?;
    let body = send.send_request(req).await?.into_body().collect().await?;
    Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
}

struct Options {
    duration: Duration,
    warmup: Duration,
    rounds: usize,
    connections: usize,
    client_threads: usize,
    soak: u64,
    check: bool,
    /// The fixed rate of the latency runs, requests a second in all.
    rate: f64,
    /// The core the server is pinned to (`--pin`: the last one).
    pin: Option<usize>,
    /// The variants measured besides `bare` (`--only`); all when empty.
    only: Vec<String>,
    /// Load from wrk instead of the built-in hyper client (`--wrk`).
    wrk: bool,
}

impl Options {
    fn measures(&self, variant: &str) -> bool {
        variant == "bare" || self.only.is_empty() || self.only.iter().any(|v| v == variant)
    }
}

fn options(args: &[String]) -> Result<Options, Error> {
    let mut o = Options {
        duration: Duration::from_secs(5),
        warmup: Duration::from_secs(1),
        rounds: 4,
        connections: 32,
        client_threads: 1,
        soak: 1_000_000,
        check: false,
        pin: None,
        only: Vec::new(),
        wrk: false,
        rate: 20_000.0,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--duration" => o.duration = Duration::from_secs_f64(value()?.parse()?),
            "--warmup" => o.warmup = Duration::from_secs_f64(value()?.parse()?),
            "--rounds" => o.rounds = value()?.parse()?,
            "--connections" => o.connections = value()?.parse()?,
            "--client-threads" => o.client_threads = value()?.parse()?,
            "--soak" => o.soak = value()?.parse()?,
            "--check" => o.check = true,
            "--only" => o.only = value()?.split(',').map(str::to_owned).collect(),
            "--wrk" => o.wrk = true,
            "--pin" => o.pin = Some(std::thread::available_parallelism()?.get() - 1),
            "--rate" => o.rate = value()?.parse()?,
            "--quick" => {
                o.duration = Duration::from_secs(1);
                o.warmup = Duration::from_millis(300);
                o.rounds = 2;
                o.soak = 20_000;
            }
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    Ok(o)
}

/// Prints a target's verdict; returns whether it held.
fn target(name: &str, value: f64, op: &str, limit: f64) -> bool {
    let pass = if op == "≥" {
        value >= limit
    } else {
        value <= limit
    };
    let verdict = if pass { "PASS" } else { "FAIL" };
    println!("{verdict}  {name}: {value:.3} (target {op} {limit})");
    pass
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, name] = args.as_slice() {
        if flag == "--serve" {
            return serve(name);
        }
    }
    let o = options(&args)?;
    if let Some(server) = o.pin {
        pin_generator(server)?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.client_threads)
        .enable_all()
        .build()?;
    rt.block_on(bench(o))
}

/// Closed-loop load for `duration` (each connection sends its next request
/// as soon as the answer arrives): from wrk with `--wrk`, otherwise from the
/// built-in client.
async fn saturate(
    o: &Options,
    addr: SocketAddr,
    path: &'static str,
    duration: Duration,
) -> Result<Run, Error> {
    if o.wrk {
        wrk(addr, path, o.connections, duration).await
    } else {
        let until = Instant::now() + duration;
        drive(addr, path, o.connections, until, u64::MAX, None).await
    }
}

async fn bench(o: Options) -> Result<(), Error> {
    println!(
        "{} connections; per measurement: {:?} warm-up, {:?} as fast as answers come back ({}), {:?} at {} req/s for latency; {} round(s), client threads {}, cores {}, server pinned to core {:?}",
        o.connections,
        o.warmup,
        o.duration,
        if o.wrk { "wrk" } else { "built-in client" },
        o.duration,
        o.rate,
        o.rounds,
        o.client_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        o.pin
    );
    // Per variant and endpoint: the closed-loop runs (throughput, server
    // CPU) and the fixed-rate runs (latency).
    let mut results: Vec<Vec<(Run, Run)>> = VARIANTS
        .iter()
        .map(|_| ENDPOINTS.iter().map(|_| (Run::new(), Run::new())).collect())
        .collect();
    // Requests a second of each round, to set each variant against the
    // bare server of the same round.
    let mut per_round = vec![vec![Vec::new(); ENDPOINTS.len()]; VARIANTS.len()];
    for round in 0..o.rounds {
        // Every other round runs backwards, variants and endpoints alike, so
        // that a drift within a round (or a rollout tick landing on the
        // second endpoint) favours no variant.
        let backwards = round % 2 == 1;
        let variants: Vec<usize> = if backwards {
            (0..VARIANTS.len()).rev().collect()
        } else {
            (0..VARIANTS.len()).collect()
        };
        for v in variants {
            let name = VARIANTS[v];
            if !o.measures(name) {
                continue;
            }
            let server = Server::start(name, o.pin)?;
            let endpoints = if backwards { [1, 0] } else { [0, 1] };
            for e in endpoints {
                let path = ENDPOINTS[e];
                // Warm up with the generator that measures.
                saturate(&o, server.addr, path, o.warmup).await?;
                let cpu = server.cpu()?;
                let mut load = saturate(&o, server.addr, path, o.duration).await?;
                load.server_cpu = server.cpu()?.saturating_sub(cpu);
                let at = Instant::now() + o.duration;
                let latency =
                    drive(server.addr, path, o.connections, at, u64::MAX, Some(o.rate)).await?;
                println!(
                    "round {} {name:>9} {path:<6} {:>8.0} req/s  server CPU {:>5.2} µs/req  at {} req/s: p50 {:>6.1} µs  p99 {:>6.1} µs  errors {}",
                    round + 1,
                    load.rps(),
                    load.cpu_per_request(),
                    o.rate,
                    latency.p(0.5),
                    latency.p(0.99),
                    load.errors + latency.errors
                );
                per_round[v][e].push(load.rps());
                results[v][e].0.add(&load);
                results[v][e].1.add(&latency);
            }
        }
    }

    println!();
    println!(
        "| variant | endpoint | req/s | server CPU/req | p50 at {0} req/s | p99 at {0} req/s | req/s vs bare | (rounds: lowest–highest) | CPU/req vs bare | p99 vs bare | errors |",
        o.rate
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (v, name) in VARIANTS.iter().enumerate() {
        if !o.measures(name) {
            continue;
        }
        for (e, path) in ENDPOINTS.iter().enumerate() {
            let (load, latency) = &results[v][e];
            let (bare, bare_latency) = &results[0][e];
            // The spread of the same ratio taken round by round.
            let ratios = per_round[v][e]
                .iter()
                .zip(&per_round[0][e])
                .map(|(a, b)| a / b);
            let low = ratios.clone().fold(f64::INFINITY, f64::min);
            let high = ratios.fold(0.0, f64::max);
            println!(
                "| {name} | {path} | {:.0} | {:.2} µs | {:.0} µs | {:.0} µs | {:.3} | {low:.3}–{high:.3} | {:.3} | {:.3} | {} |",
                load.rps(),
                load.cpu_per_request(),
                latency.p(0.5),
                latency.p(0.99),
                load.rps() / bare.rps(),
                load.cpu_per_request() / bare.cpu_per_request(),
                latency.p(0.99) / bare_latency.p(0.99),
                load.errors + latency.errors
            );
        }
    }
    println!();

    let index = |name: &str| VARIANTS.iter().position(|v| *v == name).expect("variant");
    let mut pass = true;
    for (e, path) in ENDPOINTS.iter().enumerate() {
        let (bare, bare_latency) = &results[0][e];
        let (one, one_latency) = &results[index("full-1")][e];
        let fast = &results[index("full-100")][e].1;
        if o.measures("full-1") {
            pass &= target(
                &format!("{path} throughput at 1 % / bare"),
                one.rps() / bare.rps(),
                "≥",
                0.97,
            );
            pass &= target(
                &format!("{path} p99 at 1 % / bare"),
                one_latency.p(0.99) / bare_latency.p(0.99),
                "≤",
                1.05,
            );
        }
        for bad in ["slow-100", "fail-100"] {
            if !(o.measures(bad) && o.measures("full-100")) {
                continue;
            }
            let run = &results[index(bad)][e].1;
            pass &= target(
                &format!("{path} p99 {bad} / full-100"),
                run.p(0.99) / fast.p(0.99),
                "≤",
                1.10,
            );
        }
    }

    if o.soak > 0 {
        println!();
        println!(
            "soak: {} requests to /json over {} connections",
            o.soak, o.connections
        );
        let mut peaks = Vec::new();
        for name in ["bare", "stuck-100"] {
            let server = Server::start(name, o.pin)?;
            let start = Instant::now();
            let far = start + Duration::from_secs(3600);
            let run = drive(server.addr, "/json", o.connections, far, o.soak, None).await?;
            let peak = server.peak_rss_kib()?;
            let stats = if name == "bare" {
                String::new()
            } else {
                get_text(server.stats, "/").await?
            };
            println!(
                "{name:>9}: {} ok, {} errors in {:.1} s ({:.0} req/s), p99 {:.0} µs, peak RSS {:.1} MiB  {stats}",
                run.ok,
                run.errors,
                start.elapsed().as_secs_f64(),
                run.rps(),
                run.p(0.99),
                peak as f64 / 1024.0
            );
            peaks.push(peak);
        }
        pass &= target(
            "peak RSS, stuck shadow minus bare (MiB)",
            (peaks[1] as f64 - peaks[0] as f64) / 1024.0,
            "≤",
            64.0,
        );
    }

    if o.check && !pass {
        std::process::exit(1);
    }
    Ok(())
}
