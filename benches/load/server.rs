//! The server under load: started here (`--serve`), or already running (`--url`, `--pid`);
//! its time to ready and its memory, read from `/proc/<pid>/status`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::{Client, StatusCode};

/// Memory of a process, in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident now.
    pub rss: u64,
    /// The most it has ever been resident (the kernel's own peak).
    pub hwm: u64,
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub fn memory(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
    })
}

/// Reads VmRSS every 10 ms on its own thread until stopped; answers the largest value seen.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            while !flag.load(Ordering::Relaxed) {
                if let Some(m) = memory(pid) {
                    peak = peak.max(m.rss);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        });
        Self { stop, thread }
    }

    pub fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or(0)
    }
}

/// How to start `belong serve`.
pub struct ServeCommand {
    pub binary: PathBuf,
    /// The token key, the same for every start, so that tokens outlive a restart.
    pub secret: String,
    pub database_url: String,
    pub pool: u32,
    pub log: PathBuf,
}

/// A server this tool started; stopped (SIGTERM) by [`Server::stop`], killed when dropped.
pub struct Server {
    pub url: String,
    pub pid: Option<u32>,
    child: Option<tokio::process::Child>,
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("a free port")?;
    Ok(listener.local_addr()?.port())
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// `bytes` random bytes from the kernel, in hexadecimal: the server's token key.
pub fn random_hex(bytes: usize) -> anyhow::Result<String> {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut buf)?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

impl Server {
    /// A server started elsewhere.
    pub fn running(url: String, pid: Option<u32>) -> Self {
        Self {
            url,
            pid,
            child: None,
        }
    }

    /// Starts `belong serve` on a free port and waits for `/readyz` to answer 200, polling
    /// every 5 ms; answers the server and the time from the process's start to that answer.
    pub async fn start(cmd: &ServeCommand) -> anyhow::Result<(Self, Duration)> {
        let port = free_port()?;
        let url = format!("http://127.0.0.1:{port}");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cmd.log)
            .with_context(|| format!("opening {}", cmd.log.display()))?;
        let mut command = tokio::process::Command::new(&cmd.binary);
        command
            .arg("serve")
            .env("DATABASE_URL", &cmd.database_url)
            .env("BELONG__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("BELONG__SERVER__PUBLIC_URL", &url)
            .env("BELONG__DATABASE__MAX_CONNECTIONS", cmd.pool.to_string())
            .env("BELONG__AUTH__JWT_SECRET", &cmd.secret)
            // The load tool stands for a reverse proxy: its X-Forwarded-For names the address
            // each employee signs in from (see `http::address`).
            .env("BELONG__SERVER__TRUSTED_PROXIES", "127.0.0.1")
            .env("BELONG__LOG__FORMAT", "json")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        let probe = Client::builder()
            .timeout(Duration::from_secs(1))
            .pool_max_idle_per_host(0)
            .build()?;
        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", cmd.binary.display()))?;
        let pid = child.id();
        loop {
            if let Ok(resp) = probe.get(format!("{url}/readyz")).send().await {
                if resp.status() == StatusCode::OK {
                    break;
                }
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "belong serve stopped ({status}) before it was ready:\n{}",
                    tail(&cmd.log)
                );
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!(
                    "belong serve was not ready within 60 s:\n{}",
                    tail(&cmd.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ready = started.elapsed();
        Ok((
            Self {
                url,
                pid,
                child: Some(child),
            },
            ready,
        ))
    }

    /// SIGTERM, then waits for the process to exit (it drains its requests first).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        match tokio::time::timeout(Duration::from_secs(40), child.wait()).await {
            Ok(status) => {
                status?;
            }
            Err(_) => {
                child.kill().await?;
                bail!("belong serve did not stop within 40 s of SIGTERM; killed");
            }
        }
        self.pid = None;
        Ok(())
    }

    pub fn memory(&self) -> Option<Memory> {
        self.pid.and_then(memory)
    }
}
