//! Idle cost: a candidate with every slot parked on `GET /next` and no event arriving should
//! not be woken at all. A listener that never answers `/next` (it answers an extension's
//! registration, so a runtime that registers one starts normally), then the context switches of
//! every thread of the candidate, from `/proc/<pid>/task/*/status`, over a window.

use crate::run::{common_env, Candidate};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one idle run measured.
#[derive(Debug, Clone, Copy)]
pub struct Idle {
    /// Context switches per second, all threads together: each is a wake-up (voluntary) or a
    /// preemption (involuntary); an idle process has neither.
    pub wakeups_per_s: f64,
    /// Threads of the candidate.
    pub threads: usize,
}

/// Serves one connection: an extension registration gets its identifier, anything else is held
/// unanswered (a parked `/next` or `event/next`).
fn serve(mut conn: TcpStream, parked: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < end + 4 + length {
            match conn.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..end + 4 + length);
        if head.contains("/extension/register") {
            let reply = "HTTP/1.1 200 OK\r\nlambda-extension-identifier: idle\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
            if conn.write_all(reply.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        parked.fetch_add(1, Ordering::SeqCst);
        // Held until the candidate goes away.
        while matches!(conn.read(&mut chunk), Ok(n) if n > 0) {}
        return;
    }
}

fn switches(pid: u32) -> Result<(u64, usize), String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|e| format!("/proc/{pid}/task: {e}"))?;
    let (mut total, mut threads) = (0, 0);
    for task in tasks.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        threads += 1;
        total += status
            .lines()
            .filter(|l| l.contains("ctxt_switches"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok((total, threads))
}

/// Starts `candidate` at `concurrency` (classic when `None`), waits until every slot has
/// parked `/next`, lets it settle, and counts its context switches over `window`. Metrics are
/// left at the candidate's default (a periodic summary is part of the idle cost).
pub fn idle_wakeups(candidate: &Candidate, concurrency: Option<usize>, window: Duration) -> Result<Idle, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let api = listener.local_addr().map_err(|e| e.to_string())?.to_string();
    let parked = Arc::new(AtomicUsize::new(0));
    {
        let parked = parked.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let parked = parked.clone();
                std::thread::spawn(move || serve(conn, parked));
            }
        });
    }
    let mut cmd = Command::new(&candidate.program);
    cmd.args(&candidate.args)
        .env_clear()
        .envs(
            common_env(&api)
                .into_iter()
                .filter(|(k, _)| k != "LAMBDA_ACTORS_METRICS_INTERVAL_SECS"),
        )
        .envs(candidate.env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(n) = concurrency {
        cmd.env("AWS_LAMBDA_MAX_CONCURRENCY", n.to_string());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", candidate.program.display()))?;
    let slots = concurrency.unwrap_or(1);
    let deadline = Instant::now() + Duration::from_secs(20);
    while parked.load(Ordering::SeqCst) < slots && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let result = if parked.load(Ordering::SeqCst) < slots {
        Err(format!(
            "{}: {} of {slots} slots parked /next",
            candidate.label,
            parked.load(Ordering::SeqCst)
        ))
    } else {
        // Start-up's own activity (connections, the first metrics) settles first.
        std::thread::sleep(Duration::from_millis(500));
        switches(child.id()).and_then(|(before, threads)| {
            std::thread::sleep(window);
            let (after, _) = switches(child.id())?;
            Ok(Idle {
                wakeups_per_s: after.saturating_sub(before) as f64 / window.as_secs_f64(),
                threads,
            })
        })
    };
    let _ = child.kill();
    let _ = child.wait();
    result
}
