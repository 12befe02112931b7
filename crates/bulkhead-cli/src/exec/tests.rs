use std::cell::Cell;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Beat, MAX_OUTPUT, Outcome, run};

const RESULT: &str = r#"echo '{"rows": 3, "bytes": 42}'"#;

fn quiet(command: &str, input: &[u8]) -> Outcome {
    run(command, input, Duration::from_secs(60), || Beat::Continue)
}

fn failed(outcome: Outcome) -> String {
    match outcome {
        Outcome::Failed { error } => error,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Waits (up to 10 s) until process `pid` is gone or a zombie, and says whether it went.
fn gone(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z') =>
            {
                return true;
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    false
}

fn pid_in(file: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(text) = fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        assert!(
            Instant::now() < deadline,
            "{} never written",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_result_line_after_exit_zero_is_a_success() {
    assert_eq!(
        quiet(&format!("cat >/dev/null; {RESULT}"), b"{}"),
        Outcome::Succeeded { rows: 3, bytes: 42 }
    );
}

#[test]
fn the_job_arrives_whole_on_stdin() {
    let input = vec![b'x'; 300_000];
    let outcome = quiet(
        r#"n=$(wc -c | tr -d ' '); echo "{\"rows\": $n, \"bytes\": 1}""#,
        &input,
    );
    assert_eq!(
        outcome,
        Outcome::Succeeded {
            rows: 300_000,
            bytes: 1
        }
    );
}

#[test]
fn progress_lines_before_the_result_are_ignored() {
    assert_eq!(
        quiet(
            &format!("echo reading; echo 'half way'; {RESULT}; echo"),
            b""
        ),
        Outcome::Succeeded { rows: 3, bytes: 42 }
    );
}

#[test]
fn an_error_line_fails_the_job_with_the_connectors_words() {
    let error = failed(quiet(r#"echo '{"error": "bad password"}'"#, b""));
    assert_eq!(error, "bad password");
    let error = failed(quiet(r#"echo '{"error": "bad password"}'; exit 3"#, b""));
    assert_eq!(error, "bad password (exited with status 3)");
}

#[test]
fn a_long_error_is_cut() {
    let error = failed(quiet(
        r#"printf '{"error": "'; head -c 5000 /dev/zero | tr '\0' e; echo '"}'"#,
        b"",
    ));
    assert!(
        error.len() < 1100 && error.ends_with('…'),
        "{}",
        error.len()
    );
}

#[test]
fn a_nonzero_exit_without_a_result_names_the_status() {
    assert_eq!(
        failed(quiet("exit 7", b"")),
        "the connector exited with status 7"
    );
    assert_eq!(
        failed(quiet("no-such-connector-command-here 2>/dev/null", b"")),
        "the connector exited with status 127"
    );
}

#[test]
fn a_nonzero_exit_with_a_result_line_is_still_a_failure() {
    assert_eq!(
        failed(quiet(&format!("{RESULT}; exit 1"), b"")),
        "the connector exited with status 1"
    );
}

#[test]
fn output_that_is_not_a_result_fails_without_being_repeated() {
    for output in [
        "echo secret-hunter2",
        "true",
        r#"echo '{"rows": 1}'"#,
        r#"echo '{"rows": 1, "bytes": 2, "password": "hunter2"}'"#,
        r#"echo '{"rows": -1, "bytes": 2}'"#,
    ] {
        let error = failed(quiet(output, b""));
        assert!(error.contains("not a result"), "{output}: {error}");
        assert!(!error.contains("hunter2"), "{output}: {error}");
    }
}

#[test]
fn more_than_the_output_cap_fails_the_job() {
    let command = format!(
        "head -c {} /dev/zero | tr '\\0' a; echo; {RESULT}",
        MAX_OUTPUT + 1
    );
    let error = failed(quiet(&command, b""));
    assert_eq!(error, "the connector wrote more than 1024 KiB on stdout");
}

#[test]
fn a_connector_that_never_reads_its_input_does_not_block_the_worker() {
    let input = vec![b'y'; 4 * 1024 * 1024];
    assert_eq!(
        quiet(RESULT, &input),
        Outcome::Succeeded { rows: 3, bytes: 42 }
    );
}

#[test]
fn heartbeats_are_sent_while_the_connector_runs() {
    let beats = Cell::new(0u32);
    let outcome = run(
        &format!("sleep 0.6; {RESULT}"),
        b"",
        Duration::from_millis(50),
        || {
            beats.set(beats.get() + 1);
            Beat::Continue
        },
    );
    assert_eq!(outcome, Outcome::Succeeded { rows: 3, bytes: 42 });
    assert!(beats.get() >= 3, "only {} heartbeats", beats.get());
}

#[test]
fn no_heartbeat_is_sent_for_a_connector_done_within_the_interval() {
    let beats = Cell::new(0u32);
    let outcome = run(RESULT, b"", Duration::from_secs(60), || {
        beats.set(beats.get() + 1);
        Beat::Continue
    });
    assert_eq!(outcome, Outcome::Succeeded { rows: 3, bytes: 42 });
    assert_eq!(beats.get(), 0);
}

#[test]
fn a_stop_kills_the_connector_and_everything_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pid");
    let command = format!("sleep 300 >/dev/null & echo $! > {}; wait", file.display());
    let outcome = run(&command, b"", Duration::from_millis(50), || {
        // Stop once the grandchild is known.
        if file.exists() {
            Beat::Stop
        } else {
            Beat::Continue
        }
    });
    assert_eq!(outcome, Outcome::Stopped);
    assert!(
        gone(pid_in(&file)),
        "the connector's child survived the stop"
    );
}

#[test]
fn a_connector_that_ignores_sigterm_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pid");
    let command = format!(
        "trap '' TERM; echo $$ > {}; while :; do sleep 0.05; done",
        file.display()
    );
    let outcome = run(&command, b"", Duration::from_millis(50), || {
        if file.exists() {
            Beat::Stop
        } else {
            Beat::Continue
        }
    });
    assert_eq!(outcome, Outcome::Stopped);
    assert!(gone(pid_in(&file)), "the connector survived SIGKILL");
}

#[test]
fn processes_the_connector_leaves_behind_are_ended() {
    let dir = tempfile::tempdir().unwrap();
    for (n, redirect) in ["", ">/dev/null"].into_iter().enumerate() {
        // With the pipe held or not, the worker neither waits for them nor leaves them.
        let file = dir.path().join(format!("pid-{n}"));
        let command = format!(
            "sleep 300 {redirect} & echo $! > {}; {RESULT}",
            file.display()
        );
        assert_eq!(
            quiet(&command, b""),
            Outcome::Succeeded { rows: 3, bytes: 42 }
        );
        assert!(
            gone(pid_in(&file)),
            "the left-behind process ({redirect}) was not ended"
        );
    }
}

#[test]
fn a_connector_killed_by_a_signal_says_so() {
    assert_eq!(
        failed(quiet("kill -9 $$", b"")),
        "the connector was killed by signal 9"
    );
}
