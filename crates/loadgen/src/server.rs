//! The server under test: `leadline serve` as a child process with a fresh data dir, its
//! address and API key read from what it prints on first start, its memory and CPU read from
//! `/proc`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long `serve` may take to print its address and key (migrations included).
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long `serve` may take to stop after SIGTERM before it is killed. Its own grace for jobs in
/// flight is 20 s by default.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Linux reports process CPU time in ticks of `USER_HZ`, which is 100 on every mainstream build.
const TICKS_PER_SECOND: f64 = 100.0;

/// A running `leadline serve`.
pub struct Server {
    child: Child,
    pub base_url: String,
    pub api_key: String,
    log_path: PathBuf,
    /// The data dir and the log; removed when the server is dropped.
    _dir: tempfile::TempDir,
}

/// What the server wrote to its log (at `warn` and above).
#[derive(Debug, Default, serde::Serialize)]
pub struct LogSummary {
    pub warnings: u64,
    pub errors: u64,
    /// The first few warning or error lines, as written.
    pub samples: Vec<String>,
}

impl Server {
    /// Starts `binary serve` on `127.0.0.1:0` with a fresh data dir; with `database_url`, on that
    /// database instead of SQLite in the data dir.
    pub fn start(binary: &Path, database_url: Option<&str>) -> anyhow::Result<Server> {
        let dir = tempfile::Builder::new()
            .prefix("leadline-bench-")
            .tempdir()
            .context("Failed to create the temporary data dir")?;
        let data_dir = dir.path().join("data");
        let log_path = dir.path().join("server.log");
        let log = File::create(&log_path).context("Failed to create the server log")?;
        let mut command = Command::new(binary);
        command
            .arg("serve")
            .arg("--bind")
            .arg("127.0.0.1:0")
            .arg("--data-dir")
            .arg(&data_dir)
            // No stray leadline.toml from the caller's directory.
            .current_dir(dir.path())
            .env("LEADLINE_LOG__LEVEL", "warn")
            // A throughput benchmark from one key: no request budget.
            .env("LEADLINE_LIMITS__API_KEY_PER_MINUTE", "0")
            .env("LEADLINE_LIMITS__ORGANISATION_PER_MINUTE", "0")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log);
        if let Some(url) = database_url {
            command.arg("--database-url").arg(url);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("Failed to start {}", binary.display()))?;
        let stdout = child
            .stdout
            .take()
            .context("Failed to take the server's stdout")?;
        let lines = read_lines(stdout);
        let mut server = Server {
            child,
            base_url: String::new(),
            api_key: String::new(),
            log_path,
            _dir: dir,
        };
        // On failure `server` is dropped, which kills the child.
        let (base_url, api_key) = wait_for_welcome(&lines, &server.log_path)?;
        server.base_url = base_url;
        server.api_key = api_key;
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's peak resident set (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .context("Failed to read the server's /proc status")?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .context("Failed to find VmHWM in the server's /proc status")
    }

    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        process_cpu_seconds(&format!("/proc/{}/stat", self.pid()))
    }

    /// Sends SIGTERM and waits for a clean stop; kills the server if it does not stop in time.
    pub fn stop(mut self) -> anyhow::Result<ExitStatus> {
        let pid = self.pid().to_string();
        let term = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .context("Failed to run kill -TERM")?;
        if !term.success() {
            bail!("kill -TERM {pid} failed: {term}");
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .context("Failed to wait for the server")?
            {
                return Ok(status);
            }
            if Instant::now() >= deadline {
                self.child.kill().context("Failed to kill the server")?;
                let status = self.child.wait().context("Failed to reap the server")?;
                bail!(
                    "the server did not stop within {STOP_TIMEOUT:?} of SIGTERM; killed ({status})"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Counts the warnings and errors in the server's log.
    pub fn log_summary(&self) -> anyhow::Result<LogSummary> {
        summarize_log(&self.log_path)
    }
}

impl Drop for Server {
    /// A safety net for early returns: never leave a server running.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            if let Err(e) = self.child.kill() {
                eprintln!("could not kill the server (pid {}): {e}", self.child.id());
            }
            if let Err(e) = self.child.wait() {
                eprintln!("could not reap the server (pid {}): {e}", self.child.id());
            }
        }
    }
}

/// Reads the child's stdout on a thread of its own, so that the child never blocks on a full pipe.
fn read_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // Once the address and key are read nobody listens; keep draining regardless.
            if tx.send(line).is_err() {
                continue;
            }
        }
    });
    rx
}

/// Waits for "Leadline is listening on http://ADDR (...)" and the `ll_...` key line.
fn wait_for_welcome(
    lines: &mpsc::Receiver<String>,
    log: &Path,
) -> anyhow::Result<(String, String)> {
    let deadline = Instant::now() + START_TIMEOUT;
    let mut base_url = None;
    let mut api_key = None;
    while base_url.is_none() || api_key.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(line) => line,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                bail!(
                    "the server printed no address and key within {START_TIMEOUT:?}{}",
                    log_tail(log)
                )
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!(
                    "the server exited before printing its address and key{}",
                    log_tail(log)
                )
            }
        };
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("Leadline is listening on ") {
            let url = rest.split_whitespace().next().unwrap_or_default();
            base_url = Some(url.trim_end_matches('/').to_owned());
        } else if line.starts_with("ll_") && !line.contains(char::is_whitespace) {
            api_key = Some(line.to_owned());
        }
    }
    match (base_url, api_key) {
        (Some(url), Some(key)) => Ok((url, key)),
        _ => bail!("the server's welcome lacked its address or key"),
    }
}

fn log_tail(log: &Path) -> String {
    match std::fs::read_to_string(log) {
        Ok(text) if !text.trim().is_empty() => {
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            format!("; its log ends:\n{tail}")
        }
        _ => String::new(),
    }
}

fn summarize_log(path: &Path) -> anyhow::Result<LogSummary> {
    let text = std::fs::read_to_string(path).context("Failed to read the server log")?;
    let mut summary = LogSummary::default();
    for line in text.lines() {
        let error = line.contains(" ERROR ");
        let warning = line.contains(" WARN ");
        if error {
            summary.errors += 1;
        } else if warning {
            summary.warnings += 1;
        }
        if (error || warning) && summary.samples.len() < 5 {
            summary.samples.push(line.to_owned());
        }
    }
    Ok(summary)
}

/// CPU seconds (user + system) of the process whose `/proc/PID/stat` is at `path`.
pub fn process_cpu_seconds(path: &str) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(path).with_context(|| format!("Failed to read {path}"))?;
    // The command name, in parentheses, may hold spaces: count fields after its closing one.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .with_context(|| format!("Failed to parse {path}"))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the name: state is field 3 of the whole line, utime 14 and stime 15.
    let ticks = |i: usize| -> anyhow::Result<f64> {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .with_context(|| format!("Failed to parse {path}"))
    };
    Ok((ticks(11)? + ticks(12)?) / TICKS_PER_SECOND)
}

/// Busy and total CPU seconds of the whole machine, from `/proc/stat`.
pub fn machine_cpu_seconds() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("Failed to read /proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("Failed to find the cpu line in /proc/stat")?;
    let ticks: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: f64 = ticks.iter().sum();
    // idle and iowait.
    let idle = ticks.get(3).copied().unwrap_or(0.0) + ticks.get(4).copied().unwrap_or(0.0);
    Ok(((total - idle) / TICKS_PER_SECOND, total / TICKS_PER_SECOND))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_welcome_gives_the_address_and_the_key() {
        let (tx, rx) = mpsc::channel();
        for line in [
            "Leadline is listening on http://127.0.0.1:41234 (sandbox mode: messages are recorded, not sent).",
            "",
            "Created:",
            "and its API key (shown once):",
            "",
            "    ll_abc_def",
            "",
            "  export LEADLINE_KEY=ll_abc_def",
        ] {
            tx.send(line.to_owned()).unwrap();
        }
        let (url, key) = wait_for_welcome(&rx, Path::new("/nonexistent")).unwrap();
        assert_eq!(url, "http://127.0.0.1:41234");
        assert_eq!(key, "ll_abc_def");
    }

    #[test]
    fn cpu_time_counts_fields_after_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stat");
        std::fs::write(
            &path,
            "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1 1 1",
        )
        .unwrap();
        let secs = process_cpu_seconds(path.to_str().unwrap()).unwrap();
        assert!((secs - 3.0).abs() < 1e-9, "{secs}");
    }
}
