//! Parsing `timeout = "1m30s"` at compile time, so a bad value is an error at the literal.

/// Nanoseconds in a duration written as one or more `<number><unit>` parts (`"30s"`,
/// `"1.5s"`, `"500ms"`, `"1m30s"`). Units: `ns`, `us`, `ms`, `s`, `m`/`min`, `h`.
pub(crate) fn parse_nanos(text: &str) -> Result<u64, String> {
    let hint = "write a number and a unit, such as \"30s\", \"500ms\", \"2m\" or \"1m30s\"";
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(format!("the timeout is empty: {hint}"));
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let number_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let after = after.trim_start();
        let unit_len = after.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if number.is_empty() {
            return Err(format!("`{text}` is not a duration: {hint}"));
        }
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "" => return Err(format!("`{text}` has no unit: {hint}")),
            other => return Err(format!("unknown unit `{other}` in `{text}`: {hint}")),
        };
        total += part_nanos(number, unit_nanos).ok_or_else(|| format!("`{text}` is not a duration: {hint}"))?;
        rest = after.trim_start();
    }
    if total == 0 {
        return Err("the timeout must be longer than zero".to_string());
    }
    u64::try_from(total).map_err(|_| format!("`{text}` is too long for a timeout (at most about 584 years)"))
}

/// `number × unit_nanos` for a decimal `number` such as `1.5`, exactly, rounded down.
fn part_nanos(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') || fraction.len() > 18 {
        return None;
    }
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut nanos = whole.checked_mul(unit_nanos)?;
    if !fraction.is_empty() {
        let digits: u128 = fraction.parse().ok()?;
        let scale = 10u128.pow(fraction.len() as u32);
        nanos = nanos.checked_add(digits.checked_mul(unit_nanos)? / scale)?;
    }
    Some(nanos)
}
