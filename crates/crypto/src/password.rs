//! Password hashing: Argon2id with OWASP's parameters, stored as PHC strings.
//!
//! Each call costs tens of milliseconds of CPU and 19 MiB: call these from `spawn_blocking`.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::error::CryptoError;

/// OWASP's Argon2id recommendation: m = 19456 KiB, t = 2, p = 1.
const PARAMS: Params = match Params::new(19_456, 2, 1, None) {
    Ok(params) => params,
    Err(_) => panic!("OWASP Argon2 parameters are within argon2's limits"),
};

/// A hash of a password nobody has, made with [`PARAMS`], for [`dummy_verify`].
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$DsdZEYhJA+Rn5eUPdWGV7Q$\
                          lCYe4g1XieI4zgqpzk9K05iIdBL1i9BTGUCkwZdtU3o";

fn argon2() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, PARAMS)
}

/// Hash `password` with a fresh random salt, as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`).
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    argon2()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|error| CryptoError::PasswordHash(error.to_string()))
}

/// Whether `password` matches the PHC string `phc`. A malformed `phc` never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    // Verification uses the parameters recorded in `phc`, so hashes made before a parameter
    // change still verify.
    argon2().verify_password(password.as_bytes(), &hash).is_ok()
}

/// Do the work of [`verify_password`] against a fixed hash and discard the answer, so a login for
/// an unknown email takes as long as one for a known email with a wrong password.
pub fn dummy_verify(password: &str) {
    std::hint::black_box(verify_password(password, DUMMY_HASH));
}

#[cfg(test)]
mod tests {
    use super::*;

    // Few tests: each hash is a real Argon2id run.

    #[test]
    fn hash_then_verify() {
        let phc = hash_password("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse battery staple", &phc));
        assert!(!verify_password("correct horse battery stapler", &phc));
        assert!(!verify_password("", "not a phc string"));
    }

    #[test]
    fn dummy_hash_costs_what_a_real_one_does() {
        let dummy = PasswordHash::new(DUMMY_HASH).unwrap();
        let real = hash_password("x").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(dummy.algorithm, real.algorithm);
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        dummy_verify("anything");
    }
}
