use std::path::{Path, PathBuf};

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::super::keys;
use super::*;

/// The field names serde's derive gives `T`: the `fields` it passes to
/// `deserialize_struct`, caught by a deserializer that then gives up.
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Catch(&'static [&'static str]);
    #[derive(Debug)]
    struct Caught;
    impl std::fmt::Display for Caught {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("caught")
        }
    }
    impl std::error::Error for Caught {}
    impl de::Error for Caught {
        fn custom<M: std::fmt::Display>(_: M) -> Self {
            Caught
        }
    }
    struct Catcher<'a>(&'a mut Catch);
    impl<'de> Deserializer<'de> for Catcher<'_> {
        type Error = Caught;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Caught> {
            Err(Caught)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Caught> {
            self.0 .0 = fields;
            Err(Caught)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    let mut catch = Catch(&[]);
    let _ = T::deserialize(Catcher(&mut catch));
    catch.0
}

#[test]
fn the_types_and_the_key_lists_name_the_same_keys() {
    let pairs: [(&[&str], &[&str]); 9] = [
        (fields_of::<File>(), keys::TOP_KEYS),
        (fields_of::<Network>(), keys::NETWORK_KEYS),
        (fields_of::<LatencyRange>(), keys::LATENCY_KEYS),
        (fields_of::<At>(), keys::AT_KEYS),
        (fields_of::<Workload>(), keys::WORKLOAD_KEYS),
        (fields_of::<Hostile>(), keys::HOSTILE_KEYS),
        (fields_of::<ClockSkew>(), keys::CLOCK_SKEW_KEYS),
        (fields_of::<Nat>(), keys::NAT_KEYS),
        (fields_of::<Churn>(), keys::CHURN_KEYS),
    ];
    for (typed, listed) in pairs {
        assert_eq!(typed, listed);
    }
    let mut workload = Workload {
        from: "1s".to_owned(),
        over: None,
        lookups: None,
        ping_closest: None,
        pings: None,
        puts: None,
        gets: None,
        mutable_puts: None,
        mutable_gets: None,
        announces: None,
        topic_lookups: None,
        connects: None,
    };
    let counts: Vec<&str> = workload.counts_mut().iter().map(|(key, _)| *key).collect();
    assert_eq!(counts, keys::WORKLOAD_KEYS[2..]);
}

/// Every shipped scenario reads as a [`File`], and what it writes back checks as the
/// same scenario (but for `[expect]`'s order, which the file form sorts).
#[test]
fn every_shipped_scenario_round_trips() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<PathBuf> = Vec::new();
    for dir in ["scenarios", "benches/compare"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "toml") {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 15, "found only {files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut scenario = crate::scenario::parse(&path, &text).unwrap();
        let file = File::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let written = file.to_toml().unwrap();
        let mut again = crate::scenario::parse(&path, &written)
            .unwrap_or_else(|e| panic!("{e}\n---\n{written}"));
        scenario.expect.sort_by_key(|e| e.metric.name());
        again.expect.sort_by_key(|e| e.metric.name());
        assert_eq!(scenario, again, "{}", path.display());
        assert_eq!(File::from_toml(&written).unwrap(), file);
    }
}

#[test]
fn unknown_keys_and_large_seeds() {
    let error =
        File::from_toml("name = \"x\"\nnodes = 5\nduration = \"1s\"\nnodez = 1\n").unwrap_err();
    assert!(error.contains("nodez"), "{error}");
    let seed = Seed::from(u64::MAX);
    assert_eq!(seed, Seed::Text(u64::MAX.to_string()));
    assert_eq!(Seed::from(7), Seed::Integer(7));
}
