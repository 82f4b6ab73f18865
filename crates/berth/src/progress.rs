//! Progress bars for the long CLI jobs (`gc`, `fsck`, `audit verify`,
//! `retention run`): drawn on stderr when it is a terminal, hidden in pipes
//! and logs, so scripted output stays what it was.

use std::io::IsTerminal;

use berth_registry::GcStep;

/// What a bar counts: items (`12/40`) or bytes (`1.2 GiB/3.4 GiB`).
#[derive(Clone, Copy)]
pub enum Unit {
    /// Things: blobs, entries, repositories.
    Items,
    /// Bytes, shown in binary units.
    Bytes,
}

/// A bar and the [`GcStep`] callback that drives it; call
/// `finish_and_clear()` on the bar when the job ends.
pub fn bar(unit: Unit) -> (indicatif::ProgressBar, impl Fn(GcStep) + Send + Sync) {
    let bar = if std::io::stderr().is_terminal() {
        indicatif::ProgressBar::new(0)
    } else {
        indicatif::ProgressBar::hidden()
    };
    let template = match unit {
        Unit::Items => "{prefix:>9} [{bar:40}] {pos}/{len} {elapsed}",
        Unit::Bytes => "{prefix:>9} [{bar:40}] {bytes}/{total_bytes} {elapsed} (eta {eta})",
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    let b = bar.clone();
    let drive = move |step: GcStep| match step {
        GcStep::Phase { name, total } => {
            b.set_prefix(name);
            b.set_length(total);
            b.set_position(0);
        }
        GcStep::Advance(n) => b.inc(n),
    };
    (bar, drive)
}

/// A spinner saying `message` while a job whose size is not known up front
/// runs (on a terminal only); call `finish_and_clear()` when it ends.
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_string());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar
}
