//! The parser against whole documents: the fixtures, and every way a list can be wrong.

use super::*;
use proptest::prelude::*;

pub(crate) const OCL: &str = include_str!("../../fixtures/ocl.xml");
pub(crate) const WHITELIST: &str = include_str!("../../fixtures/whitelist.xml");
pub(crate) const GNL: &str = include_str!("../../fixtures/gnl.xml");
pub(crate) const ZAL: &str = include_str!("../../fixtures/zal.xml");

fn parse(kind: ListKind, doc: &str) -> Result<ParsedList, ListError> {
    parse_list(kind, doc.as_bytes(), &[])
}

fn problem(kind: ListKind, doc: &str) -> String {
    match parse(kind, doc) {
        Ok(_) => panic!("accepted: {doc}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_fixtures_parse_into_typed_records() {
    let Ok(ParsedList::Ocl(ocl)) = parse(ListKind::Ocl, OCL) else {
        panic!("ocl")
    };
    assert_eq!(ocl.header.volgnummer, 41);
    assert_eq!(ocl.header.tijdstempel, "2026-11-30T08:00:00+01:00");
    assert_eq!(ocl.header.published_at, 1_796_022_000);
    let pgo = &ocl.clients["pgo.wissel.test"];
    assert_eq!(pgo.organisatienaam, "De Test PGO");
    assert_eq!(
        pgo.interfaceversies["2.2.0"].iter().collect::<Vec<_>>(),
        ["48", "49", "63"]
    );
    assert!(
        ocl.clients["unlisted-pgo.wissel.test"]
            .interfaceversies
            .is_empty()
    );

    let Ok(ParsedList::Whitelist(wl)) = parse(ListKind::Whitelist, WHITELIST) else {
        panic!("whitelist")
    };
    assert_eq!(wl.nodes.len(), 4);
    assert!(wl.nodes.contains("pgo.wissel.test"));

    let Ok(ParsedList::Gnl(gnl)) = parse(ListKind::Gnl, GNL) else {
        panic!("gnl")
    };
    assert_eq!(gnl.names["49"], "Huisartsgegevens");
    assert_eq!(
        gnl.names["63"], "Medicatiegegevens & allergieën",
        "entities resolved"
    );

    let Ok(ParsedList::Zal(zal)) = parse(ListKind::Zal, ZAL) else {
        panic!("zal")
    };
    let umc = &zal.aanbieders["umcwissel@medmij"];
    assert_eq!(umc.aanbiedertype, "ZA");
    let diensten = &umc.interfaceversies["2.2.0"];
    assert_eq!(diensten.keys().collect::<Vec<_>>(), ["48", "49", "51"]);
    assert_eq!(diensten["51"].maximale_duur, Some(365));
    assert_eq!(
        diensten["51"].token_endpoint,
        "https://dva.wissel.test:8443/token"
    );
    assert_eq!(
        diensten["48"].systeemrollen["MM-2.1-BZB-FHIR"],
        "https://dva.wissel.test/fhir"
    );
}

#[test]
fn a_release2_ocl_and_a_configured_namespace() {
    let release2 = OCL.replace("/release3/", "/release2/");
    assert!(parse(ListKind::Ocl, &release2).is_ok());
    let custom = OCL.replace(
        "xmlns://afsprakenstelsel.medmij.nl/oauthclientlist/release3/",
        "urn:example:ocl",
    );
    assert!(matches!(
        parse(ListKind::Ocl, &custom),
        Err(ListError::Namespace { .. })
    ));
    assert!(parse_list(ListKind::Ocl, custom.as_bytes(), &["urn:example:ocl"]).is_ok());
}

#[test]
fn wrong_namespaces_and_roots_are_refused() {
    // No namespace, another list's namespace, a prefixed child in another namespace.
    let none = WHITELIST.replace(
        " xmlns=\"xmlns://afsprakenstelsel.medmij.nl/whitelist/release2/\"",
        "",
    );
    assert!(problem(ListKind::Whitelist, &none).contains("no namespace"));
    let other = WHITELIST.replace("/whitelist/release2/", "/whitelist/release1/");
    assert!(problem(ListKind::Whitelist, &other).contains("wrong root element or namespace"));
    let mixed = WHITELIST.replace(
        "<MedMijNode><Hostname>dva.wissel.test</Hostname></MedMijNode>",
        "<x:MedMijNode xmlns:x=\"urn:other\"><x:Hostname>dva.wissel.test</x:Hostname></x:MedMijNode>",
    );
    assert!(problem(ListKind::Whitelist, &mixed).contains("urn:other"));
    // A valid OCL is not a Whitelist.
    assert!(problem(ListKind::Whitelist, OCL).contains("Whitelist"));
}

#[test]
fn broken_documents_are_refused() {
    let cases: Vec<(ListKind, String, &str)> = vec![
        (
            ListKind::Whitelist,
            WHITELIST[..WHITELIST.len() / 2].to_owned(),
            "not well-formed",
        ),
        (ListKind::Whitelist, String::new(), "ends before its root"),
        (ListKind::Whitelist, "garbage".into(), "not well-formed"),
        (
            ListKind::Gnl,
            GNL.replace("</Weergavenaam>", "</Weergavenam>"),
            "not well-formed",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                "<?xml version=\"1.0\"?><!DOCTYPE lol [<!ENTITY a \"aaaa\">]>",
            ),
            "DOCTYPE",
        ),
        (
            ListKind::Gnl,
            GNL.replace("&amp;", "&lol;"),
            "unknown entity",
        ),
        (
            ListKind::Whitelist,
            format!("{WHITELIST}<Whitelist/>"),
            "after the root",
        ),
    ];
    for (kind, doc, expected) in cases {
        let p = problem(kind, &doc);
        assert!(p.contains(expected), "{expected}: {p}");
    }
    assert_eq!(
        parse_list(ListKind::Gnl, &[0xff, 0xfe, 0x00], &[]),
        Err(ListError::Xml("the list is not UTF-8".into()))
    );
    let huge = vec![b' '; MAX_LIST_BYTES + 1];
    assert_eq!(
        parse_list(ListKind::Gnl, &huge, &[]),
        Err(ListError::TooLarge)
    );
}

#[test]
fn schema_rules_are_enforced() {
    let cases: Vec<(ListKind, String, &str)> = vec![
        (
            ListKind::Whitelist,
            WHITELIST.replace("<Volgnummer>77</Volgnummer>", ""),
            "Whitelist/Volgnummer: required element missing",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace("<Volgnummer>77</Volgnummer>", "<Volgnummer>0</Volgnummer>"),
            "positive integer",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace("<Volgnummer>77</Volgnummer>", "<Volgnummer>-3</Volgnummer>"),
            "positive integer",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace("2026-11-30T08:00:00+01:00", "2026-11-30T08:00:00"),
            "at least 20 characters",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace("2026-11-30T08:00:00+01:00", "2026-11-31T08:00:00+01:00"),
            "xs:dateTime",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace(
                "<Tijdstempel>2026-11-30T08:00:00+01:00</Tijdstempel>\n    <Volgnummer>77</Volgnummer>",
                "<Volgnummer>77</Volgnummer>\n    <Tijdstempel>2026-11-30T08:00:00+01:00</Tijdstempel>",
            ),
            "Tijdstempel: required element missing",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace("dva.wissel.test", "DVA.wissel.test"),
            "lower-case hostname",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace("dva.wissel.test", "pgo.wissel.test"),
            "not unique",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace("<MedMijNodes>", "<MedMijNodes><Extra/>"),
            "MedMijNodes/Extra: element not allowed here",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace("<MedMijNode>", "<MedMijNode id=\"1\">"),
            "unexpected attribute",
        ),
        (
            ListKind::Whitelist,
            WHITELIST.replace("<MedMijNodes>", "<MedMijNodes>text"),
            "text beside child elements",
        ),
        (
            ListKind::Ocl,
            OCL.replace("De Test PGO", "PG"),
            "3 to 50 characters",
        ),
        (
            ListKind::Ocl,
            OCL.replace("<GegevensdienstId>63</GegevensdienstId>", "<GegevensdienstId>4 8</GegevensdienstId>"),
            "without spaces",
        ),
        (
            ListKind::Ocl,
            OCL.replace("<GegevensdienstId>63</GegevensdienstId>", "<GegevensdienstId>48</GegevensdienstId>"),
            "not unique",
        ),
        (
            ListKind::Ocl,
            OCL.replace("other-pgo.wissel.test", "pgo.wissel.test"),
            "not unique",
        ),
        (
            ListKind::Gnl,
            GNL.replace("<Weergavenaam>Documenten</Weergavenaam>", ""),
            "Weergavenaam: required element missing",
        ),
        (
            ListKind::Zal,
            ZAL.replace("umcwissel@medmij", "UMC@medmij"),
            "lower-case letters and @medmij",
        ),
        (
            ListKind::Zal,
            ZAL.replace("https://dva.wissel.test/token", "http://dva.wissel.test/token"),
            "TokenEndpoint: not an https URI",
        ),
        (
            ListKind::Zal,
            ZAL.replace("<Aanbiedertype>ZA</Aanbiedertype>", ""),
            "Aanbiedertype: required element missing",
        ),
        (
            ListKind::Zal,
            ZAL.replace("<MaximaleDuur>365</MaximaleDuur>", "<MaximaleDuur>lang</MaximaleDuur>"),
            "number of days",
        ),
        (
            ListKind::Zal,
            ZAL.replace("huisartsandere@medmij", "umcwissel@medmij"),
            "not unique",
        ),
    ];
    for (kind, doc, expected) in cases {
        let p = problem(kind, &doc);
        assert!(p.contains(expected), "{expected}: {p}");
    }
}

#[test]
fn an_older_list_may_not_replace_a_newer_one() {
    let Ok(current) = parse(ListKind::Whitelist, WHITELIST) else {
        panic!()
    };
    let older = parse(
        ListKind::Whitelist,
        &WHITELIST.replace("<Volgnummer>77</", "<Volgnummer>76</"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let newer = parse(
        ListKind::Whitelist,
        &WHITELIST.replace("<Volgnummer>77</", "<Volgnummer>78</"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        older.may_replace(Some(current.header())),
        Err(ListError::Older {
            new: 76,
            current: 77
        })
    );
    assert!(
        current.may_replace(Some(current.header())).is_ok(),
        "the same one again"
    );
    assert!(newer.may_replace(Some(current.header())).is_ok());
    assert!(older.may_replace(None).is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for kind in ListKind::ALL {
            let _ = parse_list(kind, &bytes, &[]);
        }
    }

    /// Any truncation or one-byte change of a valid list is either refused or still a list of
    /// its kind; it never panics.
    #[test]
    fn mutated_lists_never_panic(cut in 0usize..6000, at in 0usize..6000, byte in any::<u8>()) {
        for (kind, doc) in [
            (ListKind::Ocl, OCL),
            (ListKind::Whitelist, WHITELIST),
            (ListKind::Gnl, GNL),
            (ListKind::Zal, ZAL),
        ] {
            let mut bytes = doc.as_bytes().to_vec();
            if !bytes.is_empty() {
                let i = at % bytes.len();
                bytes[i] = byte;
            }
            bytes.truncate(cut.min(bytes.len()).max(bytes.len() / 3));
            if let Ok(list) = parse_list(kind, &bytes, &[]) {
                prop_assert_eq!(list.kind(), kind);
            }
        }
    }
}
