//! Blind indexes: keyed, per-tenant digests of normalised values (phone, email, name tokens) that
//! let the store find a lead by an encrypted field without decrypting every row.

use std::fmt;

use crate::primitives::hmac_sha256;
use crate::seal::Cipher;

const DOMAIN: &[u8] = b"leadline.bidx.v1";

/// Which field a blind index is of, so equal strings in different fields index differently.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum BlindKind {
    Phone,
    Email,
    NameToken,
}

impl BlindKind {
    /// The byte that stands for the kind in the HMAC input. Fixed forever: changing one orphans
    /// every stored index of that kind.
    const fn tag(self) -> u8 {
        match self {
            BlindKind::Phone => 1,
            BlindKind::Email => 2,
            BlindKind::NameToken => 3,
        }
    }
}

/// HMAC-SHA-256 of a normalised value, under the key ring's blind-index key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlindIndex([u8; 32]);

impl BlindIndex {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl fmt::Debug for BlindIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Enough to tell indexes apart in a log, too little to match against a stored one.
        write!(f, "BlindIndex({}..)", hex::encode(&self.0[..4]))
    }
}

impl Cipher {
    /// The blind index of `normalised` (already in canonical form: E.164 phone, lowercased email,
    /// ...) for `tenant`. Keyed per tenant, so the same phone in two organisations has unrelated
    /// indexes and one tenant's index reveals nothing about another's leads.
    pub fn blind_index(
        &self,
        tenant: domain::TenantId,
        kind: BlindKind,
        normalised: &str,
    ) -> BlindIndex {
        BlindIndex(hmac_sha256(
            self.ring().blind_index_key(),
            &[
                DOMAIN,
                tenant.as_uuid().as_bytes(),
                &[kind.tag()],
                normalised.as_bytes(),
            ],
        ))
    }
}

#[cfg(test)]
mod tests {
    use domain::TenantId;

    use super::*;
    use crate::KeyRing;

    #[test]
    fn same_input_gives_the_same_index() {
        let cipher = Cipher::new(KeyRing::generate());
        let tenant = TenantId::new();
        let a = cipher.blind_index(tenant, BlindKind::Phone, "+15551234567");
        let b = cipher.blind_index(tenant, BlindKind::Phone, "+15551234567");
        assert_eq!(a, b);
        assert_eq!(a.to_vec(), a.as_bytes().to_vec());
    }

    #[test]
    fn index_differs_by_tenant_kind_value_and_key() {
        let cipher = Cipher::new(KeyRing::generate());
        let tenant = TenantId::new();
        let base = cipher.blind_index(tenant, BlindKind::Phone, "+15551234567");
        let others = [
            cipher.blind_index(TenantId::new(), BlindKind::Phone, "+15551234567"),
            cipher.blind_index(tenant, BlindKind::Email, "+15551234567"),
            cipher.blind_index(tenant, BlindKind::NameToken, "+15551234567"),
            cipher.blind_index(tenant, BlindKind::Phone, "+15551234568"),
            Cipher::new(KeyRing::generate()).blind_index(tenant, BlindKind::Phone, "+15551234567"),
        ];
        for other in others {
            assert_ne!(base, other);
        }
    }

    #[test]
    fn index_survives_data_key_rotation() {
        let mut ring = KeyRing::generate();
        let tenant = TenantId::new();
        let before = Cipher::new(ring.clone()).blind_index(tenant, BlindKind::Email, "a@b.example");
        ring.rotate();
        let after = Cipher::new(ring).blind_index(tenant, BlindKind::Email, "a@b.example");
        assert_eq!(before, after);
    }

    #[test]
    fn debug_shows_only_four_bytes() {
        let index = BlindIndex([0xab; 32]);
        assert_eq!(format!("{index:?}"), "BlindIndex(abababab..)");
    }
}
