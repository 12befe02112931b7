//! Durations on the command line: `90s`, `20m`, `1h`, `30d`, or a sum such as `1h30m`.

use std::time::Duration;

/// Parses a duration: one or more `<whole number><unit>` parts, unit `s`, `m`, `h` or `d`.
/// Zero is refused: every option taking a duration means a lifetime. The error (clap adds the
/// option's name) says what is accepted.
pub(crate) fn parse(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}` is not a duration; use a number and a unit: 90s, 20m, 1h, 30d");
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 60 * 60,
            'd' => 24 * 60 * 60,
            _ => return Err(bad()),
        };
        if number.is_empty() {
            return Err(bad());
        }
        // Only ASCII digits are in `number`: it fails to parse only past `u64::MAX`.
        let n: u64 = number
            .parse()
            .map_err(|_| format!("`{text}` is too long"))?;
        total = n
            .checked_mul(unit)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| format!("`{text}` is too long"))?;
        number.clear();
    }
    if !number.is_empty() || text.is_empty() {
        // A number without a unit (`60`): seconds or minutes? Ask rather than guess.
        return Err(bad());
    }
    if total == 0 {
        return Err(format!("`{text}` is zero; give a positive duration"));
    }
    Ok(Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_is_read() {
        assert_eq!(parse("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("20m"), Ok(Duration::from_secs(1200)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("30d"), Ok(Duration::from_secs(30 * 86_400)));
    }

    #[test]
    fn parts_add_up() {
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1d2h3m4s"), Ok(Duration::from_secs(93_784)));
    }

    #[test]
    fn a_number_needs_a_unit() {
        let err = parse("60").unwrap_err();
        assert!(err.contains("not a duration"), "{err}");
        for text in ["", "m", "1h30"] {
            assert!(
                parse(text).is_err_and(|e| e.contains("not a duration")),
                "{text}"
            );
        }
    }

    #[test]
    fn unknown_units_signs_and_spaces_are_refused() {
        for text in ["5x", "-5m", "5 m", "1.5h", "5M", " 5m"] {
            assert!(
                parse(text).is_err_and(|e| e.contains("not a duration")),
                "{text}"
            );
        }
    }

    #[test]
    fn zero_and_overflow_are_refused() {
        assert!(parse("0s").unwrap_err().contains("zero"));
        assert!(parse("0h0m").unwrap_err().contains("zero"));
        let huge = format!("{}d", u64::MAX);
        assert!(parse(&huge).unwrap_err().contains("too long"));
        assert!(parse("99999999999999999999999s").is_err_and(|e| e.contains("too long")));
    }
}
