//! Scheduler benchmark: `cargo run --release --bin bench_scheduler [-- OPTIONS]`.
//!
//! For each size (nodes x resources) it writes a CIB (`scale_cib.rs` says
//! what is in it: groups, location preferences, colocation and order chains,
//! everything running, node2 lost), or uses the files given with `--cib FILE`,
//! or runs the generator given with `--gen PATH` as
//! `PATH NODES RESOURCES --running --fail-node node2`; then it runs every measurement in
//! a child process of itself so that the peak memory (VmHWM) is that size's
//! alone. Timings are medians over `--runs` runs:
//!
//! * parse: XML text to element tree (the file is read once, untimed);
//! * schedule: `scheduler::run` (typed CIB, unpack, assign, actions, graph)
//!   plus dropping its result;
//! * total: parse + schedule, what the daemon pays per transition;
//! * print: rendering what `systole simulate` prints (not part of total).
//!
//! With `--pacemaker` it also runs `crm_simulate -R -x FILE` on the same file,
//! with a timeout (`--timeout`, 60 s), and prints the speed ratio;
//! `--crm-simulate PATH` names the crm_simulate to run (default
//! /usr/sbin/crm_simulate; a wrapper script such as a reference build's works).
//!
//! Options: `--sizes 16x1000,32x2000` `--runs N` `--cib FILE` (repeatable)
//! `--pacemaker` `--crm-simulate PATH` `--timeout SECONDS` `--gen PATH`
//! `--keep DIR` `--stages`;
//! the short form `bench_scheduler FILE [RUNS]` measures one file, stages
//! included.
//!
//! `bench_scheduler --child FILE RUNS --stages` (what each size runs as)
//! also prints each stage's time and the resident size after it.

use std::path::{Path, PathBuf};

// The scheduler allocates many small strings and maps; mimalloc frees and
// reuses them several times faster than the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod scale_cib;
use scale_cib::ScaleCib;

const CRM_SIMULATE: &str = "/usr/sbin/crm_simulate";
const DEFAULT_SIZES: &[(usize, usize)] =
    &[(8, 500), (16, 1000), (32, 2000), (32, 5000), (32, 10000)];

struct Opts {
    sizes: Vec<(usize, usize)>,
    cibs: Vec<PathBuf>,
    runs: usize,
    pacemaker: bool,
    crm_simulate: PathBuf,
    timeout: Duration,
    /// An external generator to run instead of `scale_cib`.
    gen: Option<PathBuf>,
    keep: Option<PathBuf>,
    /// Also print each stage's time (the child's `--stages`).
    stages: bool,
}

fn usage(msg: &str) -> ! {
    eprintln!("bench_scheduler: {msg}");
    eprintln!(
        "usage: bench_scheduler [--sizes NxR,...] [--runs N] [--cib FILE]... [--pacemaker] \
         [--crm-simulate PATH] [--timeout S] [--gen PATH] [--keep DIR] [--stages] | bench_scheduler FILE [RUNS]"
    );
    std::process::exit(2)
}

fn parse_size(s: &str) -> Option<(usize, usize)> {
    let (n, r) = s.split_once('x')?;
    Some((n.trim().parse().ok()?, r.trim().parse().ok()?))
}

fn parse_opts(args: &[String]) -> Opts {
    let mut o = Opts {
        sizes: DEFAULT_SIZES.to_vec(),
        cibs: Vec::new(),
        runs: 5,
        pacemaker: false,
        crm_simulate: PathBuf::from(CRM_SIMULATE),
        timeout: Duration::from_secs(60),
        gen: None,
        keep: None,
        stages: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || {
            it.next()
                .cloned()
                .unwrap_or_else(|| usage(&format!("{a} wants a value")))
        };
        match a.as_str() {
            "--sizes" => {
                o.sizes = val()
                    .split(',')
                    .map(|s| parse_size(s).unwrap_or_else(|| usage(&format!("bad size {s:?}"))))
                    .collect()
            }
            "--runs" => o.runs = val().parse().unwrap_or_else(|_| usage("bad --runs")),
            "--cib" => o.cibs.push(PathBuf::from(val())),
            "--pacemaker" => o.pacemaker = true,
            "--crm-simulate" => o.crm_simulate = PathBuf::from(val()),
            "--timeout" => {
                o.timeout = Duration::from_secs_f64(
                    val().parse().unwrap_or_else(|_| usage("bad --timeout")),
                )
            }
            "--gen" => o.gen = Some(PathBuf::from(val())),
            "--keep" => o.keep = Some(PathBuf::from(val())),
            "-h" | "--help" => usage("help"),
            "--stages" => o.stages = true,
            // `bench_scheduler FILE [RUNS]`: the short form, with the stages.
            other if !other.starts_with('-') => match other.parse::<usize>() {
                Ok(runs) if !o.cibs.is_empty() => o.runs = runs,
                _ => {
                    o.cibs.push(PathBuf::from(other));
                    o.stages = true;
                }
            },
            other => usage(&format!("unknown option {other:?}")),
        }
    }
    o.runs = o.runs.max(1);
    o
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// CPU time (user + system) this process has used, in seconds.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: plain FFI call with a valid out-pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn vm_hwm_kb() -> u64 {
    proc_status_kb("VmHWM:")
}

fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The child: measures one CIB and prints one `key=value` line.
fn child(file: &Path, runs: usize, stages: bool) -> anyhow::Result<()> {
    use systole::model::cib::xml::Element;
    let text = std::fs::read_to_string(file)?;
    if stages {
        // The stages of `scheduler::run`, one by one (median over the runs),
        // first, so that the resident sizes after each are this pass's own.
        use systole::scheduler::{actions, assign, graph, unpack};
        let mut t: Vec<Vec<f64>> = vec![Vec::new(); 8];
        let mut rss = [0u64; 8];
        for _ in 0..runs {
            let mut lap = Instant::now();
            let mut next = |i: usize, t: &mut Vec<Vec<f64>>| {
                let now = Instant::now();
                t[i].push((now - lap).as_secs_f64());
                rss[i] = proc_status_kb("VmRSS:");
                lap = Instant::now();
            };
            let cib = Element::parse(&text)?;
            next(0, &mut t);
            let now = cib
                .attr("execution-date")
                .and_then(|d| d.parse::<i64>().ok())
                .unwrap_or(1_700_000_000);
            let typed = systole::model::cib::Cib::from_xml(&cib, now)?;
            next(1, &mut t);
            let mut working = unpack::unpack(typed, now, Default::default());
            next(2, &mut t);
            let plan = assign::assign(&working);
            systole::scheduler::assign::remote::settle(&mut working, &plan);
            next(3, &mut t);
            let (mut fence, mut reason) = systole::scheduler::fencing(&working);
            if working.nodes.iter().any(|n| n.connection.is_some()) {
                let prelim = actions::Model::build(&working, &plan, &fence).decisions();
                systole::scheduler::assign::remote::fence_unrecoverable(
                    &mut working,
                    &plan,
                    &prelim,
                    &mut fence,
                    &mut reason,
                );
            }
            let mut model = actions::Model::build(&working, &plan, &fence);
            model.finish(&fence);
            let decisions = model.decisions();
            next(4, &mut t);
            let summary =
                systole::scheduler::actions::summary::summary(&model, &decisions, &fence, &reason);
            drop(model);
            next(5, &mut t);
            let g = graph::build(&working, &plan, &decisions, &fence);
            next(6, &mut t);
            drop((g, summary, decisions, plan, working, cib));
            next(7, &mut t);
        }
        let names = [
            "xml", "cib", "unpack", "assign", "decide", "summary", "graph", "drop",
        ];
        let parts: Vec<String> = names
            .iter()
            .zip(t)
            .zip(rss)
            .map(|((n, v), m)| format!("{n}={:.1}ms/{}MB", median(v) * 1e3, m / 1024))
            .collect();
        eprintln!("{} stages: {}", file.display(), parts.join(" "));
    }
    let (mut parse, mut sched, mut total, mut print) = (vec![], vec![], vec![], vec![]);
    let (mut total_cpu, mut print_cpu) = (vec![], vec![]);
    let (mut actions, mut bytes) = (0, 0);
    // Peak resident size of one parse + schedule + print, as a fresh
    // process needs it (later runs add the allocator's leftovers).
    let mut hwm_kb = 0;
    for run in 0..runs {
        let (t0, c0) = (Instant::now(), cpu_seconds());
        let cib = Element::parse(&text)?;
        let t1 = Instant::now();
        let now = cib
            .attr("execution-date")
            .and_then(|d| d.parse::<i64>().ok())
            .unwrap_or(1_700_000_000);
        let outcome = systole::scheduler::run(&cib, now)?;
        let (t2, c2) = (Instant::now(), cpu_seconds());
        let out = systole::cli::simulate::render(&outcome, false);
        let (t3, c3) = (Instant::now(), cpu_seconds());
        actions = outcome.transition.graph.node_count();
        bytes = out.len();
        drop(out);
        drop(outcome);
        drop(cib);
        let (t4, c4) = (Instant::now(), cpu_seconds());
        if run == 0 {
            hwm_kb = vm_hwm_kb();
        }
        let p = (t1 - t0).as_secs_f64();
        let s = (t2 - t1).as_secs_f64() + (t4 - t3).as_secs_f64();
        parse.push(p);
        sched.push(s);
        total.push(p + s);
        print.push((t3 - t2).as_secs_f64());
        total_cpu.push((c2 - c0) + (c4 - c3));
        print_cpu.push(c3 - c2);
    }
    println!(
        "parse={} schedule={} total={} print={} total_cpu={} print_cpu={} hwm_kb={} actions={} out_bytes={}",
        median(parse),
        median(sched),
        median(total),
        median(print),
        median(total_cpu),
        median(print_cpu),
        hwm_kb,
        actions,
        bytes
    );
    Ok(())
}

struct Row {
    label: String,
    parse: f64,
    schedule: f64,
    total: f64,
    print: f64,
    total_cpu: f64,
    print_cpu: f64,
    hwm_kb: u64,
    actions: u64,
    /// Wall time of a whole `systole simulate --cib FILE > /dev/null` process.
    process: Option<Timed>,
    pacemaker: Option<Result<Timed, String>>,
}

fn measure(label: String, file: &Path, o: &Opts, pacemaker: bool) -> Result<Row, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe)
        .arg("--child")
        .arg(file)
        .arg(o.runs.to_string())
        .args(o.stages.then_some("--stages"))
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "measuring {} failed ({})",
            file.display(),
            out.status
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let get = |k: &str| -> f64 {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let process = simulate_process(file, o.runs);
    let pacemaker = pacemaker.then(|| crm_simulate(&o.crm_simulate, file, o.timeout));
    Ok(Row {
        label,
        parse: get("parse"),
        schedule: get("schedule"),
        total: get("total"),
        print: get("print"),
        total_cpu: get("total_cpu"),
        print_cpu: get("print_cpu"),
        hwm_kb: get("hwm_kb") as u64,
        actions: get("actions") as u64,
        process,
        pacemaker,
    })
}

/// A finished child process: wall-clock and CPU (user + system) seconds.
#[derive(Clone, Copy)]
struct Timed {
    wall: f64,
    cpu: f64,
}

/// Runs `cmd` to completion or `timeout`; its CPU time comes from `wait4`,
/// so that a busy machine shows in the wall time but not in the CPU time.
fn run_timed(cmd: &mut Command, timeout: Duration) -> Result<Timed, String> {
    let t0 = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id() as libc::pid_t;
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: plain FFI calls with valid out-pointers; `pid` is our child.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            let wall = t0.elapsed().as_secs_f64();
            let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
            let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            return if ok {
                Ok(Timed { wall, cpu })
            } else {
                Err(format!("failed (wait status {status}) after {wall:.1} s"))
            };
        }
        if r < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        if t0.elapsed() >= timeout {
            // SAFETY: signals and reaps our own, not yet reaped, child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return Err(format!("did not finish within {} s", timeout.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The `systole` binary beside this one, printing to /dev/null: median wall
/// and CPU times over `runs`.
fn simulate_process(file: &Path, runs: usize) -> Option<Timed> {
    let exe = std::env::current_exe().ok()?.with_file_name("systole");
    if !exe.exists() {
        return None;
    }
    let (mut wall, mut cpu) = (Vec::new(), Vec::new());
    // One untimed warm-up run (page cache, binary), then the timed ones.
    for run in 0..=runs {
        let t = run_timed(
            Command::new(&exe).args(["simulate", "--cib"]).arg(file),
            Duration::from_secs(600),
        )
        .ok()?;
        if run == 0 {
            continue;
        }
        wall.push(t.wall);
        cpu.push(t.cpu);
    }
    Some(Timed {
        wall: median(wall),
        cpu: median(cpu),
    })
}

/// `crm_simulate -R -x FILE` (one run), or why there is no time for it.
fn crm_simulate(program: &Path, file: &Path, timeout: Duration) -> Result<Timed, String> {
    if !program.exists() {
        return Err(format!("{} not installed", program.display()));
    }
    run_timed(Command::new(program).arg("-R").arg("-x").arg(file), timeout)
}

/// Runs an external CIB generator (`--gen`) for one size; its output is the CIB.
fn run_generator(gen: &Path, nodes: usize, resources: usize) -> Vec<u8> {
    let out = Command::new(gen)
        .args([nodes.to_string(), resources.to_string()])
        .args(["--running", "--fail-node", "node2"])
        .output();
    match out {
        Ok(out) if out.status.success() => out.stdout,
        Ok(out) => usage(&format!(
            "{} {nodes} {resources} failed: {}",
            gen.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => usage(&format!("running {}: {e}", gen.display())),
    }
}

fn fmt_s(t: f64) -> String {
    if t < 1.0 {
        format!("{:.1} ms", t * 1e3)
    } else {
        format!("{t:.2} s")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let file = args.get(1).unwrap_or_else(|| usage("--child FILE RUNS"));
        let runs = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(1);
        let stages = args.get(3).is_some_and(|a| a == "--stages");
        if let Err(e) = child(Path::new(file), runs, stages) {
            eprintln!("bench_scheduler: {e:#}");
            std::process::exit(1);
        }
        return;
    }
    let o = parse_opts(&args);
    let tmp = o.keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("bench_scheduler.{}", std::process::id()))
    });
    let _ = std::fs::create_dir_all(&tmp);
    let mut inputs: Vec<(String, PathBuf)> = o
        .cibs
        .iter()
        .map(|p| {
            let name = p.file_name().unwrap_or(p.as_os_str());
            (name.to_string_lossy().into_owned(), p.clone())
        })
        .collect();
    if o.cibs.is_empty() {
        for &(n, r) in &o.sizes {
            let file = tmp.join(format!("scale-{n}x{r}.xml"));
            let xml = match &o.gen {
                None => ScaleCib {
                    nodes: n,
                    resources: r,
                    running: true,
                    failed_node: Some("node2"),
                }
                .xml()
                .into_bytes(),
                Some(gen) => run_generator(gen, n, r),
            };
            if let Err(e) = std::fs::write(&file, xml) {
                usage(&format!("writing {}: {e}", file.display()));
            }
            inputs.push((format!("{n} x {r}"), file));
        }
    }
    println!(
        "Systole scheduler benchmark: median of {} run(s); total = parse + schedule (wall; and CPU \
         time, which a busy machine does not inflate); print is extra; simulate = a whole \
         `systole simulate` process",
        o.runs
    );
    let mut header = format!(
        "{:<22} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "nodes x resources",
        "parse",
        "schedule",
        "total",
        "total cpu",
        "print",
        "print cpu",
        "peak RSS",
        "actions"
    );
    header.push_str(&format!(" {:>21}", "simulate wall/cpu"));
    if o.pacemaker {
        header.push_str(&format!(
            " {:>21} {:>15}",
            "crm_simulate wall/cpu", "ratio wall/cpu"
        ));
    }
    println!("{header}");
    let mut failed = false;
    let mut pacemaker_timed_out = false;
    for (label, file) in inputs {
        // Once crm_simulate has timed out, larger inputs are not tried.
        let pacemaker = o.pacemaker && !pacemaker_timed_out;
        match measure(label.clone(), &file, &o, pacemaker) {
            Ok(row) => {
                let mut line = format!(
                    "{:<22} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7} MB {:>9}",
                    row.label,
                    fmt_s(row.parse),
                    fmt_s(row.schedule),
                    fmt_s(row.total),
                    fmt_s(row.total_cpu),
                    fmt_s(row.print),
                    fmt_s(row.print_cpu),
                    row.hwm_kb / 1024,
                    row.actions
                );
                let wc = |t: Timed| format!("{} / {}", fmt_s(t.wall), fmt_s(t.cpu));
                line.push_str(&format!(
                    " {:>21}",
                    row.process.map(wc).unwrap_or("-".into())
                ));
                match &row.pacemaker {
                    Some(Ok(t)) => {
                        // Side by side with the whole `systole simulate`
                        // process: both read, schedule and print.
                        let ours = row.process.unwrap_or(Timed {
                            wall: row.total + row.print,
                            cpu: row.total + row.print,
                        });
                        line.push_str(&format!(
                            " {:>21} {:>15}",
                            wc(*t),
                            format!("{:.0}x / {:.0}x", t.wall / ours.wall, t.cpu / ours.cpu)
                        ));
                    }
                    Some(Err(e)) => {
                        pacemaker_timed_out |= e.starts_with("did not finish");
                        line.push_str(&format!(" {e}"));
                    }
                    None if o.pacemaker => line.push_str(&format!(
                        " not run: a smaller input did not finish within {} s",
                        o.timeout.as_secs()
                    )),
                    None => {}
                }
                println!("{line}");
            }
            Err(e) => {
                println!("{label:<22} {e}");
                failed = true;
            }
        }
    }
    if o.keep.is_none() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if failed {
        std::process::exit(1);
    }
}
