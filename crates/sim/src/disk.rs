//! A small filesystem of the caller's own (a tmpfs), so a test or the crash torture can fill
//! a real disk under Courier's store and give the room back. Mounting needs root.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A mounted tmpfs, unmounted when dropped.
pub struct Tmpfs {
    dir: PathBuf,
    /// The mount point, when it is a temporary directory of ours (removed after unmounting).
    _temporary: Option<tempfile::TempDir>,
}

impl Tmpfs {
    /// Mounts a tmpfs of `megabytes` on a fresh temporary directory; the error says why not
    /// (most often: not root).
    pub fn mount(megabytes: u32) -> io::Result<Tmpfs> {
        let temporary = tempfile::tempdir()?;
        let mut disk = Self::mount_on(temporary.path(), megabytes)?;
        disk._temporary = Some(temporary);
        Ok(disk)
    }

    /// Mounts a tmpfs of `megabytes` on `dir` (created when missing).
    pub fn mount_on(dir: &Path, megabytes: u32) -> io::Result<Tmpfs> {
        fs::create_dir_all(dir)?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir)
            .output()?;
        if !out.status.success() {
            let why = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(io::Error::other(format!("mount: {why}")));
        }
        Ok(Tmpfs {
            dir: dir.to_owned(),
            _temporary: None,
        })
    }

    /// A path inside the filesystem.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Fills every byte left with a file, until the filesystem refuses more.
    pub fn fill(&self) -> io::Result<Filler> {
        let path = self.path(".courier-filler");
        let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
        let block = vec![0xA5u8; 1 << 20];
        // Ever smaller writes, down to the last bytes.
        for size in [1 << 20, 64 << 10, 512] {
            fill_until_full(&mut file, &block[..size]);
        }
        Ok(Filler { path })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: a store file still closing in another thread cannot keep the mount busy.
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

fn fill_until_full(file: &mut File, block: &[u8]) {
    loop {
        match file.write(block) {
            Ok(0) => return,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// The file that fills the disk; [`Filler::remove`] gives the room back.
pub struct Filler {
    path: PathBuf,
}

impl Filler {
    /// Deletes the filler: the disk has room again.
    pub fn remove(self) -> io::Result<()> {
        fs::remove_file(&self.path)
    }
}
