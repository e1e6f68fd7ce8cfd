//! The MedMij list parser on arbitrary bytes: the first byte picks the list kind, the rest is
//! the document. Seeds: `corpus/medmij_lists/` (the fixtures, each behind its kind's byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wissel_medmij::{ListKind, parse_list};

fuzz_target!(|data: &[u8]| {
    let Some((first, document)) = data.split_first() else {
        return;
    };
    let kind = ListKind::ALL[usize::from(*first) % ListKind::ALL.len()];
    if let Ok(list) = parse_list(kind, document, &[]) {
        assert_eq!(list.kind(), kind);
    }
});
