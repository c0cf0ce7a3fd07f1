//! Shell scripts run as the tests' own processes, with a clean environment: how the backup tests
//! run the scripts concejo's pods run.

use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Output, Stdio};

use anyhow::{Context as _, ensure};

fn script_command(script: &str, env: &[(String, String)], path: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(script).env_clear().env("PATH", path).env("HOME", std::env::temp_dir());
    c.envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null());
    c
}

/// Runs `sh -c script` with a clean environment: only `env`, PATH=`path` and HOME (the temporary
/// folder, unless `env` sets HOME), and returns its status and output.
pub fn run_script(script: &str, env: &[(String, String)], path: &str) -> anyhow::Result<Output> {
    script_command(script, env, path).output().with_context(|| format!("sh -c {script:?}"))
}

/// As [`run_script`], but returns the running child (stdout and stderr piped), in a process group
/// of its own so that [`kill_script`] reaches the programs the shell started.
pub fn spawn_script(script: &str, env: &[(String, String)], path: &str) -> anyhow::Result<Child> {
    let mut c = script_command(script, env, path);
    c.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    c.spawn().with_context(|| format!("sh -c {script:?}"))
}

/// SIGKILL to the whole process group of a [`spawn_script`] child, then waits for the shell and
/// returns what it had written.
pub fn kill_script(child: &mut Child) -> anyhow::Result<Output> {
    let status = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status()?;
    ensure!(status.success(), "kill -KILL -{} failed", child.id());
    let status = child.wait()?;
    // Every writer of the pipes is dead now: reading them to the end cannot block.
    Ok(Output { status, stdout: drain(child.stdout.take())?, stderr: drain(child.stderr.take())? })
}

fn drain(pipe: Option<impl std::io::Read>) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        pipe.read_to_end(&mut bytes)?;
    }
    Ok(bytes)
}
