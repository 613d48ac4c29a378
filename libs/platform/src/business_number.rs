//! The Korean business registration number (사업자등록번호): ten digits, the last a checksum.
//! Shared by onboarding (which stores it) and the console (which checks it as it is typed).

/// Why a number is not a business registration number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessNumberError {
    /// Not ten digits (dashes and spaces between groups aside).
    Shape,
    /// Ten digits whose last does not match: a typo.
    Checksum,
}

const WEIGHTS: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];

/// The ten digits of `input` (dashes or spaces between groups allowed, `124-81-00998`) if
/// they are a valid number.
pub fn check(input: &str) -> Result<String, BusinessNumberError> {
    let digits: String = input
        .trim()
        .chars()
        .filter(|c| *c != '-' && *c != ' ')
        .collect();
    if digits.len() != 10 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(BusinessNumberError::Shape);
    }
    let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    let mut sum: u32 = d
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, weight)| digit * weight)
        .sum();
    // The ninth digit's weighted value contributes its tens digit once more.
    sum += (d[8] * 5) / 10;
    if (10 - sum % 10) % 10 != d[9] {
        return Err(BusinessNumberError::Checksum);
    }
    Ok(digits)
}

/// A valid, made-up number for `seed` (distinct seeds below 800,000,000 give distinct
/// numbers): for test data and load generation, never for a real firm.
pub fn made_up(seed: u32) -> String {
    let body = format!("{:09}", 100_000_000 + seed % 800_000_000);
    let digits: Vec<u32> = body.chars().filter_map(|c| c.to_digit(10)).collect();
    let mut sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| d * w).sum();
    sum += (digits[8] * 5) / 10;
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// `1248100998` -> `124-81-00998`, the way a registration certificate prints it.
pub fn formatted(digits: &str) -> String {
    match (digits.get(..3), digits.get(3..5), digits.get(5..)) {
        (Some(a), Some(b), Some(c)) => format!("{a}-{b}-{c}"),
        _ => digits.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_numbers_and_typos() {
        assert_eq!(check("124-81-00998").as_deref(), Ok("1248100998"));
        assert_eq!(formatted("2208162517"), "220-81-62517");
        assert_eq!(check("120-81-47522"), Err(BusinessNumberError::Checksum));
        assert_eq!(check("124-81-0099"), Err(BusinessNumberError::Shape));
        assert_eq!(check("12a-81-00998"), Err(BusinessNumberError::Shape));
        assert!(check(" 124 81 00998 ").is_ok());
    }

    #[test]
    fn made_up_numbers_pass_the_check_and_differ() {
        let numbers: std::collections::HashSet<String> = (0..1_000).map(made_up).collect();
        assert_eq!(numbers.len(), 1_000);
        assert!(numbers.iter().all(|n| check(n).is_ok()));
    }
}
