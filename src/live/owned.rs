//! A live node's own records, kept across restarts in a file beside its key.
//!
//! In: what the node publishes ([`Node::owned`](crate::proto::Node::owned): immutable
//! values, mutable records, announcements), each time it changes. Out: a JSON file that
//! holds them, rewritten whole ([`super::file`]), and, at the next start, the commands
//! that publish them again ([`Node::restore`](crate::proto::Node::restore)): a restart
//! loses nothing its owner published.
//!
//! The file, version 1:
//!
//! ```json
//! {"version":1,"records":[
//!   {"immutable":{"value":"6d696e65"}},
//!   {"mutable":{"salt":"70726f66696c65","value":"7637","seq":7}},
//!   {"announce":{"topic":"<64 hex digits>","relays":["203.0.113.7:17761"]}}]}
//! ```
//!
//! Mutable records are signed again with the same `seq` (ed25519 signs the same bytes
//! the same way), and announcements at the new start's time.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::file::{self, Existing};
use crate::proto::id::{parse_hex32, Key};
use crate::proto::node::Command;

/// The file's format version.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    version: u32,
    records: Vec<Entry>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
enum Entry {
    Immutable {
        value: String,
    },
    Mutable {
        salt: String,
        value: String,
        seq: u64,
    },
    Announce {
        topic: String,
        relays: Vec<SocketAddr>,
    },
}

/// Where a node's own records are kept, and what was last written there.
#[derive(Debug)]
pub struct OwnedFile {
    path: PathBuf,
    saved: Vec<Command>,
}

impl OwnedFile {
    /// The file beside the key file `key`: `<key>.records.json`.
    pub fn beside(key: &Path) -> PathBuf {
        let mut name = key.file_name().unwrap_or_default().to_os_string();
        name.push(".records.json");
        key.with_file_name(name)
    }

    /// Reads `path` (no file: nothing kept yet) and gives the commands that publish
    /// what it holds. A file that does not parse is an error that names it, the entry
    /// and what is wrong; nothing is overwritten then.
    pub fn open(path: PathBuf) -> Result<(OwnedFile, Vec<Command>), String> {
        let error = |e: &dyn std::fmt::Display| format!("records file {}: {e}", path.display());
        let commands = match fs::read_to_string(&path) {
            Ok(text) => decode(&text).map_err(|e| error(&e))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(error(&e)),
        };
        let saved = commands.clone();
        Ok((OwnedFile { path, saved }, commands))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `owned` if it differs from what was last written; returns whether it
    /// wrote. On an error the file holds what it held before.
    pub fn save(&mut self, owned: Vec<Command>) -> io::Result<bool> {
        if owned == self.saved {
            return Ok(false);
        }
        file::write_whole(&self.path, encode(&owned).as_bytes(), Existing::Replace)?;
        self.saved = owned;
        Ok(true)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("{text:?} is not an even number of hex digits"));
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

fn encode(owned: &[Command]) -> String {
    let records = owned
        .iter()
        .filter_map(|command| match command {
            Command::ImmutablePut(value) => Some(Entry::Immutable { value: hex(value) }),
            Command::MutablePut { salt, value, seq } => Some(Entry::Mutable {
                salt: hex(salt),
                value: hex(value),
                seq: seq.unwrap_or(0),
            }),
            Command::Announce { topic, relays } => Some(Entry::Announce {
                topic: hex(&topic.0),
                relays: relays.clone(),
            }),
            _ => None,
        })
        .collect();
    let contents = Contents {
        version: VERSION,
        records,
    };
    let mut text = serde_json::to_string_pretty(&contents).unwrap_or_default();
    text.push('\n');
    text
}

fn decode(text: &str) -> Result<Vec<Command>, String> {
    let contents: Contents = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if contents.version != VERSION {
        return Err(format!(
            "version {} (this build reads version {VERSION})",
            contents.version
        ));
    }
    contents
        .records
        .into_iter()
        .enumerate()
        .map(|(i, entry)| command(entry).map_err(|e| format!("records[{i}]: {e}")))
        .collect()
}

fn command(entry: Entry) -> Result<Command, String> {
    Ok(match entry {
        Entry::Immutable { value } => Command::ImmutablePut(unhex(&value)?),
        Entry::Mutable { salt, value, seq } => Command::MutablePut {
            salt: unhex(&salt)?,
            value: unhex(&value)?,
            seq: Some(seq),
        },
        Entry::Announce { topic, relays } => Command::Announce {
            topic: Key(parse_hex32(&topic).map_err(|e| e.to_string())?),
            relays,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_a_bad_file_is_named_not_overwritten() {
        let dir = std::env::temp_dir().join(format!("dswarm-owned-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = OwnedFile::beside(&dir.join("node.key"));
        assert!(path.ends_with("node.key.records.json"));
        let (mut file, commands) = OwnedFile::open(path.clone()).unwrap();
        assert!(commands.is_empty(), "no file yet: nothing kept");
        let owned = vec![
            Command::ImmutablePut(b"mine".to_vec()),
            Command::MutablePut {
                salt: b"profile".to_vec(),
                value: Vec::new(),
                seq: Some(7),
            },
            Command::Announce {
                topic: Key([0xab; 32]),
                relays: vec!["203.0.113.7:17761".parse().unwrap()],
            },
        ];
        assert!(file.save(owned.clone()).unwrap());
        assert!(!file.save(owned.clone()).unwrap(), "unchanged: not written");
        let (_, again) = OwnedFile::open(path.clone()).unwrap();
        assert_eq!(again, owned);

        fs::write(
            &path,
            r#"{"version":1,"records":[{"immutable":{"value":"6x"}}]}"#,
        )
        .unwrap();
        let error = OwnedFile::open(path.clone()).unwrap_err();
        assert!(
            error.contains("node.key.records.json") && error.contains("hex"),
            "{error}"
        );
        fs::write(&path, r#"{"version":2,"records":[]}"#).unwrap();
        let error = OwnedFile::open(path.clone()).unwrap_err();
        assert!(error.contains("version 2"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
