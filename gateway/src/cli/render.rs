//! Output helpers: wrangler-style box tables, JSON printing, warnings and a stderr progress bar.
//! Everything meant for machines goes to stdout; prompts, warnings and progress go to stderr.
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};

use serde::Serialize;

/// Writes one line to stdout (a closed pipe is not an error worth dying for).
pub fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Pretty JSON on stdout.
pub fn out_json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    out(&serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A warning on stderr, in wrangler's style.
pub fn warn(msg: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = writeln!(stderr, "▲ [WARNING] {msg}");
}

/// A box table as wrangler prints it: a rule between every row.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(cell));
            }
        }
    }
    let rule = |left: &str, mid: &str, right: &str| {
        let parts: Vec<String> = widths.iter().map(|w| "─".repeat(w + 2)).collect();
        format!("{left}{}{right}", parts.join(mid))
    };
    let mut lines = vec![rule("┌", "┬", "┐"), cells_line(&widths, headers)];
    for row in rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        lines.push(rule("├", "┼", "┤"));
        lines.push(cells_line(&widths, &cells));
    }
    lines.push(rule("└", "┴", "┘"));
    lines.join("\n")
}

fn cells_line(widths: &[usize], cells: &[&str]) -> String {
    let mut s = String::from("│");
    for (i, w) in widths.iter().enumerate() {
        let cell = cells.get(i).copied().unwrap_or("");
        let pad = w.saturating_sub(width(cell));
        let _ = write!(s, " {cell}{} │", " ".repeat(pad));
    }
    s
}

/// Display width, counted in chars (good enough for ids, names and timestamps).
fn width(s: &str) -> usize {
    s.chars().count()
}

/// `[#####.....] 1200/5000 vectors`, redrawn in place on stderr; only drawn when stderr is a
/// terminal, so redirected output and `--json` stay clean.
pub struct Progress {
    total: usize,
    done: usize,
    unit: &'static str,
    enabled: bool,
    drawn: bool,
}

const BAR: usize = 30;

impl Progress {
    pub fn new(total: usize, unit: &'static str) -> Self {
        Self { total, done: 0, unit, enabled: total > 0 && std::io::stderr().is_terminal(), drawn: false }
    }

    pub fn set(&mut self, done: usize) {
        self.done = done.min(self.total);
        self.draw();
    }

    fn draw(&mut self) {
        if !self.enabled {
            return;
        }
        let filled = self.done * BAR / self.total.max(1);
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\r[{}{}] {}/{} {}",
            "#".repeat(filled),
            ".".repeat(BAR - filled),
            self.done,
            self.total,
            self.unit
        );
        let _ = stderr.flush();
        self.drawn = true;
    }

    /// Erases the bar (before printing a line, or at the end).
    pub fn clear(&mut self) {
        if self.drawn {
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "\r\x1b[2K");
            let _ = stderr.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_and_rules_every_row() {
        let t = table(&["name", "dimensions"], &[vec!["a".into(), "32".into()], vec!["long-name".into(), "7".into()]]);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "┌───────────┬────────────┐");
        assert_eq!(lines[1], "│ name      │ dimensions │");
        assert_eq!(lines[2], "├───────────┼────────────┤");
        assert_eq!(lines[3], "│ a         │ 32         │");
        assert_eq!(lines[5], "│ long-name │ 7          │");
        assert_eq!(lines[6], "└───────────┴────────────┘");
    }
}
