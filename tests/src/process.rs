//! Real service processes for tests: spawned from the built binaries, bound to port 0, their
//! address read back from --addr-file. Each child exits when its stdin closes, so a test binary
//! that dies never leaves services behind.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Service {
    pub name: String,
    pub addr: String,
    /// The admin port (metrics, probes), "" for a binary without one.
    pub admin: String,
    pub log: PathBuf,
    child: Child,
    dir: PathBuf,
}

impl Service {
    /// Starts `bin` (a workspace binary's name, or a path) with `args` plus --listen/--addr-file
    /// and an admin port of its own; waits until it reports its address.
    pub fn start(bin: &str, args: &[&str], timeout: Duration) -> anyhow::Result<Self> {
        Self::spawn(bin, args, &[], timeout, true)
    }

    /// As `start`, on a given address (a restart that must come back where it was).
    pub fn start_on(bin: &str, listen: &str, args: &[&str], timeout: Duration) -> anyhow::Result<Self> {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--listen", listen]);
        Self::spawn(bin, &all, &[], timeout, true)
    }

    /// As `start`, with environment variables (OTEL_*, say) added to the test's own.
    pub fn start_with_env(bin: &str, args: &[&str], env: &[(&str, &str)], timeout: Duration) -> anyhow::Result<Self> {
        Self::spawn(bin, args, env, timeout, true)
    }

    /// As `start`, for a binary built before admin ports existed (a benchmark's baseline).
    pub fn start_without_admin(bin: &str, args: &[&str], timeout: Duration) -> anyhow::Result<Self> {
        Self::spawn(bin, args, &[], timeout, false)
    }

    fn spawn(bin: &str, args: &[&str], env: &[(&str, &str)], timeout: Duration, admin: bool) -> anyhow::Result<Self> {
        let path = if bin.contains('/') { PathBuf::from(bin) } else { crate::bin_path(bin) };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let dir = scratch_dir(&name);
        let addr_file = dir.join("addr");
        let log = dir.join("log");
        anyhow::ensure!(path.exists(), "{} not built (cargo build --release --workspace)", path.display());
        let admin_file = dir.join("admin");
        let mut cmd = Command::new(&path);
        cmd.envs(env.iter().copied());
        if admin {
            cmd.args(["--admin-listen", "127.0.0.1:0", "--admin-addr-file"]).arg(&admin_file);
        }
        // Port 0 unless the caller chose one.
        if !args.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        let child = cmd
            .args(args)
            .args(["--exit-on-stdin-eof", "--addr-file"])
            .arg(&addr_file)
            .stdin(Stdio::piped())
            .stdout(std::fs::File::create(&log)?)
            .stderr(std::fs::File::create(dir.join("log.err"))?)
            .spawn()?;
        let mut svc = Self { name: bin.to_owned(), addr: String::new(), admin: String::new(), log: dir.join("log.err"), child, dir };
        let start = Instant::now();
        loop {
            if let Ok(a) = std::fs::read_to_string(&addr_file)
                && !a.is_empty()
            {
                svc.addr = a.trim().to_owned();
                // The admin port is bound before the API's.
                svc.admin = std::fs::read_to_string(&admin_file).map(|a| a.trim().to_owned()).unwrap_or_default();
                return Ok(svc);
            }
            if let Some(status) = svc.child.try_wait()? {
                anyhow::bail!("{bin} exited ({status}) before serving:\n{}", svc.logs());
            }
            anyhow::ensure!(start.elapsed() < timeout, "{bin} did not serve within {timeout:?}:\n{}", svc.logs());
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The admin port's base URL (`/metrics`, `/readyz`, `/livez`).
    pub fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit by itself; its status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if start.elapsed() >= timeout {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM (the orchestrator's stop).
    pub fn terminate(&self) {
        let _ = std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The embedder on the packaged test model only.
pub fn start_embedder(extra: &[&str]) -> anyhow::Result<Service> {
    start_embedder_env(extra, &[])
}

/// `start_embedder` with environment variables.
pub fn start_embedder_env(extra: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Service> {
    crate::require_provisioned();
    let models = crate::models_dir();
    let ort = crate::ort_lib();
    let mut args = vec![
        "--models-dir",
        models.to_str().unwrap_or_default(),
        "--ort-lib",
        ort.to_str().unwrap_or_default(),
        "--model",
        crate::TEST_MODEL,
    ];
    args.extend_from_slice(extra);
    Service::start_with_env("embedder-svc", &args, env, Duration::from_secs(120))
}

/// index-svc on a fresh data directory.
pub fn start_index(extra: &[&str]) -> anyhow::Result<Service> {
    let data = scratch_dir("index-data");
    start_index_on(&data, extra)
}

/// index-svc on `data` (restart after a crash: same directory).
pub fn start_index_on(data: &Path, extra: &[&str]) -> anyhow::Result<Service> {
    start_index_env(data, extra, &[])
}

/// `start_index_on` with environment variables.
pub fn start_index_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Service> {
    let mut args = vec!["--data-dir", data.to_str().unwrap_or_default()];
    args.extend_from_slice(extra);
    Service::start_with_env("index-svc", &args, env, Duration::from_secs(300))
}

/// The gateway in front of the given services (URLs like "http://127.0.0.1:PORT").
pub fn start_gateway(embedder_url: &str, index_url: &str, extra: &[&str]) -> anyhow::Result<Service> {
    start_gateway_env(embedder_url, index_url, extra, &[])
}

/// `start_gateway` with environment variables.
pub fn start_gateway_env(embedder_url: &str, index_url: &str, extra: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Service> {
    start_gateway_bin("gateway", embedder_url, index_url, extra, env)
}

/// `start_gateway_env` for a given gateway binary (a path: a benchmark's baseline build).
pub fn start_gateway_bin(bin: &str, embedder_url: &str, index_url: &str, extra: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Service> {
    let mut args = vec!["--embedder", embedder_url, "--index", index_url, "--rpc-timeout-ms", "3000"];
    args.extend_from_slice(extra);
    Service::start_with_env(bin, &args, env, Duration::from_secs(120))
}

/// The three services, started together: embedder, index, and a gateway in front of them.
pub struct Stack {
    pub embedder: Service,
    pub index: Service,
    pub gateway: Service,
}

impl Stack {
    pub fn start(gateway_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_env(gateway_args, &[])
    }

    /// The three with the same environment variables added (OTEL_*, say).
    pub fn start_env(gateway_args: &[&str], env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let embedder = start_embedder_env(&[], env)?;
        let index = start_index_env(&scratch_dir("index-data"), &[], env)?;
        let gateway = start_gateway_env(&embedder.url(), &index.url(), gateway_args, env)?;
        Ok(Self { embedder, index, gateway })
    }

    /// The gateway's base URL, e.g. "http://127.0.0.1:PORT".
    pub fn base(&self) -> String {
        self.gateway.url()
    }
}

/// A `/proc/PID/status` field in KiB (`"VmRSS:"`, `"VmHWM:"`, `"RssAnon:"`), 0 if unreadable.
pub fn status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

pub fn scratch_dir(bin: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "strato-test-{}-{}-{}",
        std::process::id(),
        bin,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// A port nobody listens on now (for a service that must come back on the same one).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// Runs `cmd` to its end; its exit status and its peak resident memory in KiB (`wait4`'s
/// `ru_maxrss`, for this child alone).
#[allow(unsafe_code)]
pub fn run_measured(cmd: &mut Command) -> anyhow::Result<(std::process::ExitStatus, u64)> {
    use std::os::unix::process::ExitStatusExt;
    let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten; wait4 reaps our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet waited for; the pointers are to live locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    anyhow::ensure!(r == pid, "wait4: {}", std::io::Error::last_os_error());
    std::mem::forget(child); // reaped above
    Ok((std::process::ExitStatus::from_raw(status), usage.ru_maxrss as u64))
}
