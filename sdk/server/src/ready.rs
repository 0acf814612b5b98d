//! The ready file: once a server has bound every listener it writes their
//! addresses to `--ready-file`, so whoever started it (a test, a script, an
//! orchestrator) can ask for port 0 and learn the ports the kernel chose,
//! instead of picking a free port and racing another process for it.
//!
//! The file holds one `name address` line per listener, e.g.
//! `grpc 127.0.0.1:41234`, and appears atomically (written beside it, then
//! renamed), so a reader that sees it sees all of it.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// The `--ready-file` flag every server takes.
#[derive(Debug, Clone, Default, Args)]
pub struct ReadyArgs {
    /// Once every listener is bound, write their addresses to this file, one
    /// `name address` line each (`grpc`, `metrics`, `http`, `attach`), so a
    /// launcher can listen on port 0 and read back the ports.
    #[arg(long, env = "PASSER_READY_FILE")]
    pub ready_file: Option<PathBuf>,
}

impl ReadyArgs {
    /// Writes `listeners` to the ready file, if one was asked for. Call it
    /// once, after the last listener is bound.
    pub fn announce(&self, listeners: &[(&str, SocketAddr)]) -> anyhow::Result<()> {
        let Some(path) = &self.ready_file else { return Ok(()) };
        let text: String = listeners.iter().map(|(name, address)| format!("{name} {address}\n")).collect();
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, text).with_context(|| format!("--ready-file: cannot write {}", partial.display()))?;
        std::fs::rename(&partial, path).with_context(|| format!("--ready-file: cannot create {}", path.display()))?;
        tracing::debug!(path = %path.display(), "ready file written");
        Ok(())
    }
}

/// Reads a ready file's `name address` lines back; lines that do not parse
/// are skipped.
pub fn parse(text: &str) -> Vec<(String, SocketAddr)> {
    text.lines()
        .filter_map(|line| {
            let (name, address) = line.split_once(' ')?;
            Some((name.to_owned(), address.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announce_writes_what_parse_reads() {
        let path = std::env::temp_dir().join(format!("passer-ready-test-{}", std::process::id()));
        let args = ReadyArgs { ready_file: Some(path.clone()) };
        let grpc: SocketAddr = "127.0.0.1:4242".parse().unwrap();
        let metrics: SocketAddr = "[::1]:9090".parse().unwrap();
        args.announce(&[("grpc", grpc), ("metrics", metrics)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(parse(&text), vec![("grpc".to_owned(), grpc), ("metrics".to_owned(), metrics)]);
    }

    #[test]
    fn no_flag_writes_nothing() {
        ReadyArgs::default().announce(&[("grpc", "127.0.0.1:1".parse().unwrap())]).unwrap();
    }

    #[test]
    fn parse_skips_lines_it_cannot_read() {
        assert_eq!(parse("grpc nowhere\n\nhttp 127.0.0.1:80\n").len(), 1);
    }
}
