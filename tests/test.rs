//! A small builder for running the real binary on a fixture repo in a temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Test {
    dir: tempfile::TempDir,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

fn repo_root() -> PathBuf {
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

    pub fn run(&self, args: &[&str]) -> Output {
        let output = Command::new(env!("CARGO_BIN_EXE_stamp"))
            .arg("-C")
            .arg(self.path())
            .args(["--color", "never"])
            .args(args)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        Output {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8(output.stdout).unwrap(),
            stderr: String::from_utf8(output.stderr).unwrap(),
        }
    }

    /// Runs and expects the exit code, printing the output when it differs.
    pub fn expect(&self, args: &[&str], code: i32) -> Output {
        let output = self.run(args);
        assert_eq!(
            output.code, code,
            "stamp {args:?} exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            output.code, output.stdout, output.stderr
        );
        output
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

pub const LOCAL_FILES: [&str; 3] = [".stamp.lock", ".stamp-cache", ".stamp-writing"];

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
