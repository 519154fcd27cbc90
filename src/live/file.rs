//! Files a live node keeps (its key, its own records), written whole or not at all.
//!
//! In: a path and the bytes it should hold. Out: the file holding exactly those bytes,
//! private to its owner (mode 0600), or an error and the path as it was. The bytes go
//! to a temporary file beside the path, are flushed to disk (`fsync`), then moved into
//! place, and the directory is flushed too; so a full disk or a crash mid-write leaves
//! no empty or half-written file to block or mislead the next start.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

/// What to do when the path already holds a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse, and leave it (a key file: never replaced).
    Keep,
    /// Replace it, atomically (a file the node rewrites as what it holds changes).
    Replace,
}

/// Writes `bytes` to `path`, whole or not at all (see the module docs).
pub fn write_whole(path: &Path, bytes: &[u8], existing: Existing) -> io::Result<()> {
    write_whole_with(path, bytes, existing, |file, bytes| file.write_all(bytes))
}

/// [`write_whole`], with `write` putting the bytes into the temporary file: the seam
/// where a test makes the disk run full.
fn write_whole_with(
    path: &Path,
    bytes: &[u8],
    existing: Existing,
    write: impl FnOnce(&mut fs::File, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary)?;
        write(&mut file, bytes)?;
        file.sync_all()?;
        match existing {
            // A link, unlike a rename, refuses to replace a file already there.
            Existing::Keep => fs::hard_link(&temporary, path)?,
            Existing::Replace => fs::rename(&temporary, path)?,
        }
        if let Some(directory) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::File::open(directory)?.sync_all()?;
        }
        Ok(())
    })();
    let _ = fs::remove_file(&temporary);
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("dswarm-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// Writes half, then fails as a full disk does.
    fn disk_full(file: &mut fs::File, bytes: &[u8]) -> io::Result<()> {
        file.write_all(&bytes[..bytes.len() / 2])?;
        Err(io::Error::new(
            io::ErrorKind::StorageFull,
            "no space left on device",
        ))
    }

    #[test]
    fn a_full_disk_leaves_no_file_where_there_was_none_and_the_old_one_where_there_was() {
        let dir = scratch("full-disk");
        let key = dir.join("node.key");
        let failed = write_whole_with(&key, b"0123456789abcdef\n", Existing::Keep, disk_full);
        assert_eq!(failed.unwrap_err().kind(), io::ErrorKind::StorageFull);
        assert!(names(&dir).is_empty(), "no empty key file, no temporary");
        // The next start writes it whole.
        write_whole(&key, b"0123456789abcdef\n", Existing::Keep).unwrap();
        assert_eq!(fs::read(&key).unwrap(), b"0123456789abcdef\n");

        let records = dir.join("node.key.records.json");
        write_whole(&records, b"[1]", Existing::Replace).unwrap();
        let failed = write_whole_with(&records, b"[1, 2, 3]", Existing::Replace, disk_full);
        assert!(failed.is_err());
        assert_eq!(fs::read(&records).unwrap(), b"[1]", "the old file stands");
        write_whole(&records, b"[1, 2, 3]", Existing::Replace).unwrap();
        assert_eq!(fs::read(&records).unwrap(), b"[1, 2, 3]");
        assert_eq!(names(&dir), ["node.key", "node.key.records.json"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for path in [&key, &records] {
                let mode = fs::metadata(path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{}", path.display());
            }
        }
        // A key file is never replaced.
        assert!(write_whole(&key, b"other\n", Existing::Keep).is_err());
        assert_eq!(fs::read(&key).unwrap(), b"0123456789abcdef\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
