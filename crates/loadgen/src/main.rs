//! `leadline-loadgen`: starts `leadline serve` on SQLite or PostgreSQL, posts leads at a fixed
//! concurrency or rate, and reports leads accepted per second, speed to lead (from the message
//! records) and the server's peak RSS. A benchmark, not a test: see docs/performance.md.

mod latency;
mod load;
mod postgres;
mod report;
mod server;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};

use crate::latency::Percentiles;
use crate::load::{Arrival, Target};
use crate::postgres::BenchDatabase;
use crate::report::{AnswerFigures, CpuFigures, PostingFigures, Report};
use crate::server::Server;

/// A weekday noon in Central time (10:00 Pacific): quiet hours never defer an answer.
const BUSINESS_NOON: &str = "2026-03-04T18:00:00Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Load generator for `leadline serve`.
#[derive(Debug, Parser)]
#[command(name = "leadline-loadgen", version, about)]
struct Args {
    /// The `leadline` binary to start (build it with --release).
    #[arg(long, value_name = "PATH")]
    leadline: PathBuf,
    #[arg(long, value_enum)]
    backend: Backend,
    /// For --backend postgres: a database to run CREATE/DROP DATABASE from. Each run creates
    /// `leadline_bench_<random>` on that server and drops it afterwards.
    #[arg(
        long,
        value_name = "URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    postgres_url: String,
    /// How many leads to post.
    #[arg(long, default_value_t = 10_000)]
    count: u64,
    /// Closed loop: how many requests are in flight. With --rate: the most in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// A fixed arrival rate in leads per second (for latency). Without it, a closed loop.
    #[arg(long, value_name = "LEADS_PER_SECOND")]
    rate: Option<f64>,
    /// How long to wait after posting for every lead's answer, in seconds.
    #[arg(long, default_value_t = 300)]
    drain_timeout: u64,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Also write every answered lead as a CSV line `intake_at,speed_to_lead_ms`, in intake
    /// order, to find when the slow ones arrived.
    #[arg(long, value_name = "PATH")]
    timeline: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Args::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("leadline-loadgen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the benchmark and prints the report; `Ok(false)` when a lead was refused or unanswered.
async fn run(args: Args) -> anyhow::Result<bool> {
    if args.count == 0 || args.count > load::MAX_LEADS {
        bail!("--count must be from 1 to {}", load::MAX_LEADS);
    }
    if args.concurrency == 0 || args.concurrency > 4096 {
        bail!("--concurrency must be from 1 to 4096");
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        bail!("--rate must be a positive number of leads per second");
    }
    let database = match args.backend {
        Backend::Postgres => Some(
            tokio::task::spawn_blocking({
                let url = args.postgres_url.clone();
                move || BenchDatabase::create(&url)
            })
            .await
            .context("creating the bench database")??,
        ),
        Backend::Sqlite => None,
    };
    let outcome = bench(&args, database.as_ref().map(|d| d.url.as_str())).await;
    // The server has stopped by now (or was killed on the error path): the database can go.
    if let Some(database) = database {
        let name = database.name().to_owned();
        let dropped = tokio::task::spawn_blocking(move || database.drop_database())
            .await
            .context("dropping the bench database")
            .and_then(|r| r);
        if let Err(e) = dropped {
            eprintln!("leadline-loadgen: could not drop database {name}: {e:#}");
        }
    }
    let report = outcome?;
    let text = if args.json {
        serde_json::to_string_pretty(&report).context("Failed to write the report")? + "\n"
    } else {
        report.to_string()
    };
    // Not print!: a closed pipe (`| head`) is an error to report, not a panic.
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("Failed to print the report")?;
    Ok(report.posting.errors == 0 && report.answers.complete)
}

async fn bench(args: &Args, database_url: Option<&str>) -> anyhow::Result<Report> {
    let binary = args.leadline.clone();
    let url = database_url.map(str::to_owned);
    let server = tokio::task::spawn_blocking(move || Server::start(&binary, url.as_deref()))
        .await
        .context("starting the server")??;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .context("Failed to build the HTTP client")?;
    let target = Target {
        client,
        base_url: server.base_url.clone(),
        api_key: server.api_key.clone(),
    };
    set_clock(&target).await?;

    let arrival = match args.rate {
        Some(per_second) => Arrival::Rate {
            per_second,
            concurrency: args.concurrency,
        },
        None => Arrival::Closed {
            concurrency: args.concurrency,
        },
    };
    let before = CpuSample::take(&server)?;
    let posting = load::post_leads(&target, args.count, arrival).await?;
    let cpu = before.until(&CpuSample::take(&server)?);
    let answers = latency::wait_for_answers(
        &target,
        posting.created,
        Duration::from_secs(args.drain_timeout),
    )
    .await?;
    if let Some(path) = &args.timeline {
        write_timeline(path, &answers.timeline)?;
    }
    let peak_rss_kib = server.peak_rss_kib()?;
    let server_log = server.log_summary()?;
    let exit = tokio::task::spawn_blocking(move || server.stop())
        .await
        .context("stopping the server")??;

    let seconds = posting.elapsed.as_secs_f64();
    Ok(Report {
        backend: match args.backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        },
        count: args.count,
        concurrency: args.concurrency,
        rate: args.rate,
        posting: PostingFigures {
            seconds,
            accepted: posting.created,
            accepted_per_second: posting.created as f64 / seconds.max(f64::EPSILON),
            errors: posting.errors(),
            other_statuses: posting.other_statuses.clone(),
            transport_errors: posting.transport_errors,
            error_samples: posting.error_samples.clone(),
            late_starts: posting.late_starts,
            answer_ms: Percentiles::of(&posting.answer_ms),
        },
        answers: AnswerFigures {
            settled: answers.settled,
            complete: answers.complete,
            by_status: answers.by_status,
            speed_to_lead_ms: Percentiles::of(&answers.speed_to_lead_ms),
            span_seconds: answers.span.map(|s| s.as_secs_f64()),
            waited_seconds: answers.waited.as_secs_f64(),
        },
        peak_rss_mb: peak_rss_kib as f64 / 1024.0,
        cpu,
        server_log,
        server_exit: exit.to_string(),
    })
}

/// Writes `intake_at,speed_to_lead_ms` lines, oldest intake first.
fn write_timeline(
    path: &std::path::Path,
    timeline: &[(jiff::Timestamp, f64)],
) -> anyhow::Result<()> {
    let mut sorted = timeline.to_vec();
    sorted.sort_by_key(|(intake, _)| *intake);
    let mut csv = String::from("intake_at,speed_to_lead_ms\n");
    for (intake, ms) in sorted {
        csv.push_str(&format!("{intake},{ms:.3}\n"));
    }
    std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))
}

/// Sets the sandbox clock so that every answer goes out at once.
async fn set_clock(target: &Target) -> anyhow::Result<()> {
    let response = target
        .client
        .post(format!("{}/api/v1/sandbox/clock", target.base_url))
        .bearer_auth(&target.api_key)
        .json(&serde_json::json!({ "set": BUSINESS_NOON }))
        .send()
        .await
        .context("Failed to set the sandbox clock")?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        bail!("POST /api/v1/sandbox/clock answered {status}: {body}");
    }
    Ok(())
}

/// CPU seconds used so far by the server, by this process and by the whole machine.
struct CpuSample {
    at: Instant,
    server: f64,
    loadgen: f64,
    machine_busy: f64,
    machine_total: f64,
}

impl CpuSample {
    fn take(server: &Server) -> anyhow::Result<CpuSample> {
        let (machine_busy, machine_total) = server::machine_cpu_seconds()?;
        Ok(CpuSample {
            at: Instant::now(),
            server: server.cpu_seconds()?,
            loadgen: server::process_cpu_seconds("/proc/self/stat")?,
            machine_busy,
            machine_total,
        })
    }

    /// Average cores busy between `self` and `later`.
    fn until(&self, later: &CpuSample) -> CpuFigures {
        let wall = later
            .at
            .duration_since(self.at)
            .as_secs_f64()
            .max(f64::EPSILON);
        CpuFigures {
            server_cores: (later.server - self.server) / wall,
            loadgen_cores: (later.loadgen - self.loadgen) / wall,
            machine_busy_cores: (later.machine_busy - self.machine_busy) / wall,
            machine_cores: ((later.machine_total - self.machine_total) / wall).round(),
        }
    }
}
