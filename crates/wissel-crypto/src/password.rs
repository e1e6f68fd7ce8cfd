//! User password digests: Argon2id in PHC form. Only for user passwords; server-generated
//! secrets use [`crate::secret`].
//!
//! Each hash needs `m_cost` KiB of working memory (19 MiB with the default parameters). The
//! `*_with` functions take it from a [`HashMemory`] that the caller keeps and reuses, so that a
//! login storm does not allocate and free 19 MiB per login: glibc raises its mmap threshold
//! after the first such free and then keeps every freed block in its arenas, so a process that
//! allocated per hash held hundreds of MiB after a few thousand logins.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, PasswordVerifier, Version};

use crate::CryptoError;

/// Reusable Argon2 working memory, sized for [`hash_password`]'s parameters on first use. One per
/// hash slot: the bound on memory is the number of slots times 19 MiB.
#[derive(Default)]
pub struct HashMemory(Vec<Block>);

impl HashMemory {
    /// Empty: the blocks are allocated at the first hash.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.0.len() * Block::SIZE
    }

    /// `blocks` blocks of working memory: this memory's own when it is (or may grow to) the
    /// default size, else a temporary allocation (a digest made with more memory than the
    /// current parameters, rehashed at the next login), so that what is kept stays bounded.
    fn run<T>(&mut self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        let default = Params::default().block_count();
        if blocks > default.max(self.0.len()) {
            let mut temporary = vec![Block::default(); blocks];
            return f(&mut temporary);
        }
        if self.0.len() < blocks {
            self.0.resize(default.max(blocks), Block::default());
        }
        f(&mut self.0[..blocks])
    }
}

/// [`hash_password`] in `memory`.
pub fn hash_password_with(password: &str, memory: &mut HashMemory) -> Result<String, CryptoError> {
    let error = |e: &dyn std::fmt::Display| CryptoError::Key(e.to_string());
    let params = Params::default();
    let salt = argon2::password_hash::try_generate_salt().map_err(|e| error(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    memory
        .run(params.block_count(), |blocks| {
            argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
        })
        .map_err(|e| error(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| error(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| error(&e))?),
        hash: Some(Output::new(&out).map_err(|e| error(&e))?),
    };
    Ok(phc.to_string())
}

/// [`verify_password`] in `memory`. A malformed hash never matches; the comparison is in
/// constant time.
pub fn verify_password_with(password: &str, hash: &str, memory: &mut HashMemory) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let hashed = memory.run(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
    });
    // `Output`'s equality is constant-time.
    hashed.is_ok() && Output::new(&out).is_ok_and(|computed| &computed == expected)
}

/// Hashes a password with Argon2id and the default (OWASP baseline) parameters.
pub fn hash_password(password: &str) -> Result<String, CryptoError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| CryptoError::Key(e.to_string()))
}

/// True when `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// True when `hash` was made with other parameters than [`hash_password`] uses now (or another
/// algorithm): after a successful login it is replaced with a fresh digest.
pub fn needs_rehash(hash: &str) -> bool {
    let Ok(parsed) = argon2::PasswordHash::new(hash) else {
        return true;
    };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    let current = argon2::Params::default();
    match argon2::Params::try_from(&parsed) {
        Ok(p) => {
            p.m_cost() != current.m_cost()
                || p.t_cost() != current.t_cost()
                || p.p_cost() != current.p_cost()
                || parsed.version != Some(argon2::Version::V0x13 as u32)
        }
        Err(_) => true,
    }
}

/// True when `hash` is a PHC string this module can verify.
pub fn is_valid_hash(hash: &str) -> bool {
    hash.starts_with("$argon2id$") && argon2::PasswordHash::new(hash).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reused_memory_hashes_and_verifies_like_the_allocating_functions() {
        let mut memory = HashMemory::new();
        assert_eq!(memory.bytes(), 0, "allocated at the first hash only");
        let h = hash_password_with("correct horse", &mut memory).unwrap();
        let held = memory.bytes();
        assert_eq!(held, Params::default().block_count() * Block::SIZE);
        assert!(is_valid_hash(&h));
        assert!(!needs_rehash(&h));
        assert!(
            verify_password("correct horse", &h),
            "the standard verifier agrees"
        );
        let standard = hash_password("correct horse").unwrap();
        for digest in [&h, &standard] {
            assert!(verify_password_with("correct horse", digest, &mut memory));
            assert!(!verify_password_with("correct horsE", digest, &mut memory));
        }
        // Older, smaller and larger parameters verify too; only the default size is kept.
        for m in [8 * 1024, 32 * 1024] {
            let other = Argon2::new(
                Algorithm::Argon2id,
                Version::V0x13,
                Params::new(m, 1, 1, None).unwrap(),
            )
            .hash_password(b"pw")
            .unwrap()
            .to_string();
            assert!(verify_password_with("pw", &other, &mut memory));
            assert!(!verify_password_with("pW", &other, &mut memory));
            assert_eq!(memory.bytes(), held);
        }
        for bad in [
            "",
            "garbage",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$",
            "$argon2id$v=19$m=19456,t=2,p=1",
        ] {
            assert!(!verify_password_with("pw", bad, &mut memory), "{bad}");
        }
    }

    #[test]
    fn round_trip() {
        let h = hash_password("correct horse").unwrap();
        assert!(is_valid_hash(&h));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(!needs_rehash(&h));
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(8 * 1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw")
        .unwrap()
        .to_string();
        assert!(verify_password("pw", &weak));
        assert!(needs_rehash(&weak));
        assert!(needs_rehash("garbage"));
    }
}
