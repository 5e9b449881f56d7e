//! A small builder for running the real binary on a fixture repo in a temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `stamp` binary cargo built for these tests.
pub fn binary() -> &'static Path {
    assert_cmd::cargo::cargo_bin!("stamp")
}

/// The binary as a command with colour off; tests that must kill or race
/// it spawn `binary()` themselves.
pub fn stamp() -> assert_cmd::Command {
    let mut command = assert_cmd::Command::new(binary());
    command.env("NO_COLOR", "1");
    command
}

pub struct Test {
    dir: tempfile::TempDir,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    fn from(output: &std::process::Output) -> Output {
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout.clone()).unwrap(),
            stderr: String::from_utf8(output.stderr.clone()).unwrap(),
        }
    }

    /// The `error:` and `hint:` lines of stderr: the message and where it
    /// points, without the source excerpt a diagnostic renders under it.
    pub fn messages(&self) -> String {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("error:") || l.starts_with("hint:"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// The build summary line without its timing (`... in 12ms`).
    pub fn summary(&self) -> &str {
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("built "))
            .unwrap_or_else(|| panic!("no build summary in:\n{}", self.stderr));
        line.rsplit_once(" in ").map_or(line, |(summary, _)| summary)
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

impl Test {
    /// An empty repo.
    pub fn empty() -> Test {
        Test {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The built-in archetypes and components plus `tests/fixtures/<name>`.
    pub fn fixture(name: &str) -> Test {
        let test = Test::empty();
        for dir in ["archetypes", "components"] {
            std::fs::create_dir_all(test.path().join(dir)).unwrap();
            copy_tree(&repo_root().join(dir), &test.path().join(dir));
        }
        test.overlay(name)
    }

    /// Copies `tests/fixtures/<name>` over the repo.
    pub fn overlay(self, name: &str) -> Test {
        copy_tree(&repo_root().join("tests/fixtures").join(name), self.path());
        self
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, path: &str, content: &str) -> &Test {
        let full = self.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, content).unwrap();
        self
    }

    pub fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.path().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Replaces the first `from` in a file with `to`; `from` must be there.
    pub fn edit(&self, path: &str, from: &str, to: &str) {
        let text = self.read(path);
        assert!(text.contains(from), "{path} has no {from:?}");
        self.write(path, &text.replacen(from, to, 1));
    }

    pub fn remove(&self, path: &str) -> &Test {
        std::fs::remove_file(self.path().join(path)).unwrap();
        self
    }

    pub fn exists(&self, path: &str) -> bool {
        self.path().join(path).exists()
    }

    /// `stamp -C <repo> --color never <args>`, not yet run.
    pub fn command(&self, args: &[&str]) -> assert_cmd::Command {
        let mut command = stamp();
        command.arg("-C").arg(self.path()).args(["--color", "never"]).args(args);
        command
    }

    /// Runs and expects the exit code; on any other, the panic shows the
    /// command, its exit code, stdout and stderr.
    pub fn expect(&self, args: &[&str], code: i32) -> Output {
        Output::from(self.command(args).assert().code(code).get_output())
    }

    /// Runs git in the repo (tests build real repositories).
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.email=test@example.com",
                "-c",
                "user.name=test",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(self.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Commits everything as it is now.
    pub fn commit(&self, message: &str) {
        if !self.path().join(".git").exists() {
            self.git(&["init", "-q"]);
        }
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", message]);
    }

    /// Every file stamp may write and commit, with its content, in path
    /// order; stamp's local, uncommitted files (lock, stat cache, staging
    /// folder) are left out.
    pub fn tree(&self) -> String {
        let mut files = Vec::new();
        for top in ["generated", ".github"] {
            collect(&self.path().join(top), top, &mut files);
        }
        files.sort();
        files
            .into_iter()
            .map(|path| format!("=== {path}\n{}", self.read(&path)))
            .collect::<Vec<_>>()
            .join("")
    }

    /// Files under `dir` with their modification times.
    pub fn mtimes(&self, dir: &str) -> Vec<(String, std::time::SystemTime)> {
        let mut files = Vec::new();
        collect(&self.path().join(dir), dir, &mut files);
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let mtime = std::fs::metadata(self.path().join(&p)).unwrap().modified().unwrap();
                (p, mtime)
            })
            .collect()
    }
}

pub const LOCAL_FILES: [&str; 5] = [
    ".stamp.lock",
    ".stamp-cache",
    ".stamp-tree-cache",
    ".stamp-snapshot",
    ".stamp-writing",
];

fn collect(dir: &Path, rel: &str, files: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if LOCAL_FILES.contains(&name.as_str()) {
            continue;
        }
        let path = format!("{rel}/{name}");
        if entry.file_type().unwrap().is_dir() {
            collect(&entry.path(), &path, files);
        } else {
            files.push(path);
        }
    }
}
