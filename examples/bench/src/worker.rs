//! Client of `peer_worker.py`: starts the Python process for one engine, model and thread
//! count, waits for its `ready` line, and asks it for batches of timed runs.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// A running `peer_worker.py`; sends `quit` and waits for it when dropped.
pub struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// The engine's version, as the worker reported it.
    pub version: String,
}

impl Worker {
    /// Starts `python peer_worker.py engine model input shape threads` and waits until the
    /// model is compiled. The worker's stderr goes to ours.
    pub fn start(
        python: &str,
        engine: &str,
        model: &Path,
        input: &Path,
        shape: &[usize],
        threads: usize,
    ) -> Result<Self, String> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("peer_worker.py");
        let shape_s: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let mut child = Command::new(python)
            .arg(&script)
            .arg(engine)
            .arg(model)
            .arg(input)
            .arg(shape_s.join("x"))
            .arg(threads.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {python} {}: {e}", script.display()))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("worker pipes missing".into());
        };
        let mut w = Worker {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            version: String::new(),
        };
        let line = w.read_line()?;
        w.version = line
            .strip_prefix("ready ")
            .ok_or_else(|| format!("worker said {line:?} instead of ready"))?
            .trim()
            .to_string();
        Ok(w)
    }

    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading from worker: {e}"))?;
        if n == 0 {
            return Err(
                "peer worker exited (see its error above; is the engine installed for this \
                 --python?)"
                    .into(),
            );
        }
        Ok(line)
    }

    /// Runs the engine `k` times; returns each run's time in milliseconds.
    pub fn run(&mut self, k: usize) -> Result<Vec<f64>, String> {
        writeln!(self.stdin, "run {k}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("writing to worker: {e}"))?;
        let line = self.read_line()?;
        let times = line
            .split_whitespace()
            .map(|t| t.parse::<u64>().map(|ns| ns as f64 / 1e6))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("worker sent {line:?}: {e}"))?;
        if times.len() != k {
            return Err(format!("asked for {k} runs, worker timed {}", times.len()));
        }
        Ok(times)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit").and_then(|()| self.stdin.flush());
        let _ = self.child.wait();
    }
}
