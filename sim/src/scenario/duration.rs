//! Durations as scenario files write them: a number and a unit, `"30s"`, `"1.5s"`.
//!
//! [`parse_duration`] is exact: `"0.1s"` is 100 ms to the nanosecond, with no float in
//! between. [`format_duration`] writes a `Duration` back in a form `parse_duration`
//! reads, so messages and printed parameters can be pasted into a file.

use std::time::Duration;

/// Units a duration may end in, with their length in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60 * 1_000_000_000),
    ("h", 3_600 * 1_000_000_000),
    ("d", 86_400 * 1_000_000_000),
];

const NANOS_PER_SECOND: u128 = 1_000_000_000;

/// Parses a duration written as a number and a unit: `"30s"`, `"5ms"`, `"250us"`,
/// `"1.5s"`, `"2m"`, `"1h"`, `"1d"` (`"µs"` is `"us"`).
///
/// The number is decimal digits with an optional fraction; a space may separate it
/// from the unit. Bare numbers (`"30"`: seconds or milliseconds?), signs, exponents,
/// `NaN` and `inf` are errors, as is anything finer than a nanosecond or longer than
/// `Duration` holds. The error is a sentence saying what to write instead.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty duration; write a number and a unit, like \"30s\"".to_owned());
    }
    let number_len = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(number_len);
    let unit = unit.trim_start();
    if number.is_empty() {
        if trimmed.starts_with('-') {
            return Err(format!("{text:?} is negative; a duration cannot be"));
        }
        if trimmed.starts_with('+') {
            return Err(format!("{text:?}: leave out the `+`, like \"30s\""));
        }
        return Err(format!(
            "{text:?} is not a duration; write a number and a unit, like \"30s\""
        ));
    }
    if unit.is_empty() {
        return Err(format!(
            "{text:?} has no unit; write a unit, like \"{number}s\" or \"{number}ms\""
        ));
    }
    let Some(&(_, unit_nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(format!(
            "{text:?} has an unknown unit `{unit}`; use us, ms, s, m, h or d, like \"30s\""
        ));
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if fraction.contains('.') || (whole.is_empty() && fraction.is_empty()) {
        return Err(format!(
            "{text:?} is not a number and a unit, like \"1.5s\""
        ));
    }
    let too_long = || format!("{text:?} is too long a duration");
    let whole_nanos = if whole.is_empty() {
        0
    } else {
        whole
            .parse::<u128>()
            .ok()
            .and_then(|whole| whole.checked_mul(unit_nanos))
            .ok_or_else(too_long)?
    };
    // Exact decimal arithmetic: fraction / 10^digits of a unit, which must come out
    // in whole nanoseconds.
    let fraction = fraction.trim_end_matches('0');
    let fraction_nanos = if fraction.is_empty() {
        0
    } else {
        if fraction.len() > 18 {
            return Err(format!("{text:?} is more precise than a nanosecond"));
        }
        let digits: u128 = fraction.parse().map_err(|_| too_long())?;
        let scaled = digits * unit_nanos;
        let divisor = 10u128.pow(fraction.len() as u32);
        if scaled % divisor != 0 {
            return Err(format!("{text:?} is more precise than a nanosecond"));
        }
        scaled / divisor
    };
    let nanos = whole_nanos
        .checked_add(fraction_nanos)
        .ok_or_else(too_long)?;
    let seconds = u64::try_from(nanos / NANOS_PER_SECOND).map_err(|_| too_long())?;
    let subsec = u32::try_from(nanos % NANOS_PER_SECOND).expect("a remainder of 10^9 fits u32");
    Ok(Duration::new(seconds, subsec))
}

/// Writes a duration the way a scenario file would: `"120s"`, `"1.5s"`, `"80ms"`,
/// `"250us"`, `"2h"`, `"3d"`. [`parse_duration`] reads every output back exactly.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    const DAY: u128 = 86_400 * NANOS_PER_SECOND;
    const HOUR: u128 = 3_600 * NANOS_PER_SECOND;
    if nanos == 0 {
        "0s".to_owned()
    } else if nanos % DAY == 0 {
        format!("{}d", nanos / DAY)
    } else if nanos % HOUR == 0 {
        format!("{}h", nanos / HOUR)
    } else if nanos >= NANOS_PER_SECOND {
        decimal(nanos, NANOS_PER_SECOND, "s")
    } else if nanos >= 1_000_000 {
        decimal(nanos, 1_000_000, "ms")
    } else {
        decimal(nanos, 1_000, "us")
    }
}

/// `nanos` in units of `unit_nanos` (a power of ten), with as many decimals as needed.
fn decimal(nanos: u128, unit_nanos: u128, unit: &str) -> String {
    let whole = nanos / unit_nanos;
    let rest = nanos % unit_nanos;
    if rest == 0 {
        return format!("{whole}{unit}");
    }
    let width = unit_nanos.ilog10() as usize;
    let fraction = format!("{rest:0width$}");
    format!("{whole}.{}{unit}", fraction.trim_end_matches('0'))
}
