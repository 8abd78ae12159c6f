//! Masking of personal data for logs: enough to correlate, not enough to identify.

/// `+14155552671` -> `+1******2671`: the country code and the last four digits.
pub fn phone(e164: &str) -> String {
    let chars: Vec<char> = e164.chars().collect();
    if chars.len() <= 6 {
        return "*".repeat(chars.len());
    }
    let keep_tail = 4;
    let keep_head = if chars.first() == Some(&'+') { 2 } else { 0 };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < keep_head || i >= chars.len() - keep_tail {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// `jane.doe@example.com` -> `j***@example.com`.
pub fn email(address: &str) -> String {
    match address.split_once('@') {
        Some((local, domain)) => {
            let first = local.chars().next().map(String::from).unwrap_or_default();
            format!("{first}***@{domain}")
        }
        None => "***".to_owned(),
    }
}

/// Masks an address of either kind.
pub fn address(addr: &str) -> String {
    if addr.contains('@') {
        email(addr)
    } else {
        phone(addr)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masks() {
        assert_eq!(super::phone("+14155552671"), "+1******2671");
        assert_eq!(super::email("jane.doe@example.com"), "j***@example.com");
        assert_eq!(super::phone("123"), "***");
    }
}
