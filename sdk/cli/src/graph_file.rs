//! The graph file of `passer run` (TOML, or JSON when the name ends in
//! `.json`): `version = 1`, optional `id`, `tenant`, `priority` and `[vars]`,
//! then `[[stage]]` tables — each with a name, an executor (default
//! `command`), its tasks (`count = N` copies of the stage's own fields, or
//! `[[stage.task]]` tables), and its edges (`after`, `after_task = ["node/task"]`).
//!
//! `{name}` in any text is replaced by `vars.name` (or `--var name=value`),
//! then `{i}` by the task's index and `{stage}` by the stage's name.
//! A `command` task is `argv = [..]` or `shell = ".."`, with optional `env`
//! and `stdin`; when its stage has upstream edges and no `stdin` of its own,
//! its stdin is the upstream outputs concatenated (a command's stdout, any
//! other executor's output as is), in edge order then task id order. Other
//! executors take `payload`; after an edge they receive the SDK's JSON
//! envelope (`{"payload": .., "inputs": [..]}`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use passer::graph::{Graph, Inputs};
use passer::TaskSpec;
use serde::Deserialize;
use serde_json::{json, Value};

/// The executor type whose tasks are commands.
pub(crate) const COMMAND: &str = "command";

/// A whole graph file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GraphFile {
    /// The format's version; must be 1.
    version: u32,
    /// The graph's id (generated when absent); job ids are `<id>.<stage>`.
    id: Option<String>,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    priority: i32,
    /// Values for `{name}` in any text.
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(rename = "stage", default)]
    pub(crate) stages: Vec<StageFile>,
}

/// One `[[stage]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StageFile {
    pub(crate) name: String,
    #[serde(default = "default_executor")]
    pub(crate) executor: String,
    /// Makes `count` tasks from the stage's own task fields.
    count: Option<usize>,
    /// Explicit tasks, instead of `count`.
    #[serde(rename = "task", default)]
    tasks: Vec<TaskFile>,
    #[serde(default)]
    after: Vec<String>,
    #[serde(default)]
    after_task: Vec<String>,
    /// Print (and keep) this stage's results; default: the sinks'.
    keep: Option<bool>,
    // The task fields `count` copies (and defaults for `[[stage.task]]`);
    // spelled out since serde cannot deny unknown fields through a flatten.
    /// Task id template (default `t{i}`).
    id: Option<String>,
    payload: Option<String>,
    argv: Option<Vec<String>>,
    shell: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    stdin: Option<String>,
    timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    /// Retry the task's own failures (non-zero exit, error) after a backoff.
    retry_on_error: Option<bool>,
    /// Milliseconds before the first retry on error, doubling after.
    retry_backoff_ms: Option<u64>,
    #[serde(default)]
    constraints: Vec<String>,
}

impl StageFile {
    /// The stage's own task fields.
    fn template(&self) -> TaskFile {
        TaskFile {
            id: self.id.clone(),
            payload: self.payload.clone(),
            argv: self.argv.clone(),
            shell: self.shell.clone(),
            env: self.env.clone(),
            stdin: self.stdin.clone(),
            timeout_ms: self.timeout_ms,
            max_attempts: self.max_attempts,
            retry_on_error: self.retry_on_error,
            retry_backoff_ms: self.retry_backoff_ms,
            constraints: self.constraints.clone(),
        }
    }
}

/// One task's fields.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskFile {
    /// Its id; with `count` a template (default `t{i}`).
    id: Option<String>,
    /// The payload of a non-command task.
    payload: Option<String>,
    /// A command's program and arguments.
    argv: Option<Vec<String>>,
    /// A command run by `/bin/sh -c`.
    shell: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    stdin: Option<String>,
    timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    /// Retry the task's own failures (non-zero exit, error) after a backoff.
    retry_on_error: Option<bool>,
    /// Milliseconds before the first retry on error, doubling after.
    retry_backoff_ms: Option<u64>,
    #[serde(default)]
    constraints: Vec<String>,
}

fn default_executor() -> String {
    COMMAND.to_owned()
}

impl GraphFile {
    /// Reads `path` (TOML, or JSON for `*.json`), with `overrides` replacing `vars`.
    pub(crate) fn load(path: &Path, overrides: &[(String, String)]) -> anyhow::Result<GraphFile> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut file: GraphFile = if path.extension().is_some_and(|extension| extension == "json") {
            serde_json::from_str(&text).with_context(|| format!("{} is not a valid graph file", path.display()))?
        } else {
            toml::from_str(&text).with_context(|| format!("{} is not a valid graph file", path.display()))?
        };
        if file.version != 1 {
            bail!("{}: version {} is not supported (only 1)", path.display(), file.version);
        }
        for (key, value) in overrides {
            file.vars.insert(key.clone(), value.clone());
        }
        Ok(file)
    }

    /// The graph the file describes; the refusals of the SDK (cycles,
    /// unknown edges, ...) come when it is run.
    pub(crate) fn build(&self) -> anyhow::Result<Graph> {
        let mut graph = match &self.id {
            Some(id) => Graph::with_id(self.expand(id)),
            None => Graph::new(),
        };
        graph.tenant(self.tenant.clone()).priority(self.priority);
        let is_command: HashMap<String, bool> =
            self.stages.iter().map(|stage| (stage.name.clone(), stage.executor == COMMAND)).collect();
        for stage in &self.stages {
            let tasks = self.tasks_of(stage).with_context(|| format!("stage {:?}", stage.name))?;
            let has_edges = !stage.after.is_empty() || !stage.after_task.is_empty();
            let node = if stage.executor == COMMAND && has_edges {
                let upstream_commands = is_command.clone();
                graph.stage_from(stage.name.clone(), move |inputs: &Inputs| {
                    Ok(with_upstream_stdin(tasks, inputs, &upstream_commands))
                })
            } else {
                graph.stage(stage.name.clone(), tasks.into_iter().map(|(task, _)| task))
            };
            for upstream in &stage.after {
                node.after(upstream.clone());
            }
            for edge in &stage.after_task {
                let Some((upstream, task)) = edge.split_once('/') else {
                    bail!("stage {:?}: after_task {edge:?} must be \"node/task\"", stage.name);
                };
                node.after_task(upstream, task);
            }
            if let Some(keep) = stage.keep {
                node.keep(keep);
            }
        }
        Ok(graph)
    }

    /// The stage's tasks, each with its command (for command stages).
    fn tasks_of(&self, stage: &StageFile) -> anyhow::Result<Vec<(TaskSpec, Option<CommandFields>)>> {
        let fields: Vec<(usize, TaskFile)> = match stage.count {
            Some(_) if !stage.tasks.is_empty() => bail!("give either count or [[stage.task]] tables, not both"),
            Some(count) => (0..count).map(|index| (index, stage.template())).collect(),
            None => {
                let template = stage.template();
                stage.tasks.iter().cloned().enumerate().map(|(index, task)| (index, merge(&template, task))).collect()
            }
        };
        fields.into_iter().map(|(index, task)| self.task(stage, index, task)).collect()
    }

    fn task(
        &self,
        stage: &StageFile,
        index: usize,
        task: TaskFile,
    ) -> anyhow::Result<(TaskSpec, Option<CommandFields>)> {
        let expand = |text: &str| self.expand(text).replace("{i}", &index.to_string()).replace("{stage}", &stage.name);
        let id = expand(task.id.as_deref().unwrap_or("t{i}"));
        let (payload, command_opt) = if stage.executor == COMMAND {
            if task.payload.is_some() {
                bail!("task {id}: a command task takes argv or shell, not payload");
            }
            let (argv, shell) = match (&task.argv, &task.shell) {
                (Some(argv), None) => (argv.iter().map(|arg| expand(arg)).collect(), false),
                (None, Some(script)) => (vec![expand(script)], true),
                _ => bail!("task {id}: a command task needs exactly one of argv or shell"),
            };
            let env: BTreeMap<String, String> =
                task.env.iter().map(|(key, value)| (key.clone(), expand(value))).collect();
            let fields = CommandFields { argv, shell, env, stdin_opt: task.stdin.as_deref().map(expand) };
            (fields.payload(None), Some(fields))
        } else {
            if task.argv.is_some() || task.shell.is_some() || task.stdin.is_some() || !task.env.is_empty() {
                bail!(
                    "task {id}: argv, shell, env and stdin are for command tasks; executor {} takes payload",
                    stage.executor
                );
            }
            (expand(task.payload.as_deref().unwrap_or("")).into_bytes(), None)
        };
        let mut spec = TaskSpec::new(id, stage.executor.clone(), payload);
        if let Some(millis) = task.timeout_ms {
            spec = spec.timeout(Duration::from_millis(millis));
        }
        if let Some(attempts) = task.max_attempts {
            spec = spec.max_attempts(attempts);
        }
        if task.retry_on_error == Some(true) {
            spec = spec.retry_on_error();
            if let Some(millis) = task.retry_backoff_ms.filter(|&millis| millis > 0) {
                spec = spec.retry_backoff(Duration::from_millis(millis));
            }
        }
        for constraint in &task.constraints {
            spec = spec.constraint(expand(constraint));
        }
        Ok((spec, command_opt))
    }

    fn expand(&self, text: &str) -> String {
        let mut expanded = text.to_owned();
        for (key, value) in &self.vars {
            expanded = expanded.replace(&format!("{{{key}}}"), value);
        }
        expanded
    }
}

/// Explicit task fields over the stage's defaults.
fn merge(defaults: &TaskFile, task: TaskFile) -> TaskFile {
    let mut env = defaults.env.clone();
    env.extend(task.env);
    // A task's own argv or shell replaces both of the stage's.
    let own_command = task.argv.is_some() || task.shell.is_some();
    TaskFile {
        id: task.id,
        payload: task.payload.or_else(|| defaults.payload.clone()),
        argv: if own_command { task.argv } else { defaults.argv.clone() },
        shell: if own_command { task.shell } else { defaults.shell.clone() },
        env,
        stdin: task.stdin.or_else(|| defaults.stdin.clone()),
        timeout_ms: task.timeout_ms.or(defaults.timeout_ms),
        max_attempts: task.max_attempts.or(defaults.max_attempts),
        retry_on_error: task.retry_on_error.or(defaults.retry_on_error),
        retry_backoff_ms: task.retry_backoff_ms.or(defaults.retry_backoff_ms),
        constraints: if task.constraints.is_empty() { defaults.constraints.clone() } else { task.constraints },
    }
}

/// A command task's fields, kept to rebuild its payload with its stdin.
#[derive(Debug, Clone)]
struct CommandFields {
    argv: Vec<String>,
    shell: bool,
    env: BTreeMap<String, String>,
    stdin_opt: Option<String>,
}

impl CommandFields {
    /// The command executor's payload, `{argv, shell, env, stdin}`; the
    /// task's own stdin wins over `upstream_stdin`.
    fn payload(&self, upstream_stdin: Option<&str>) -> Vec<u8> {
        let stdin = self.stdin_opt.as_deref().or(upstream_stdin);
        json!({ "argv": self.argv, "shell": self.shell, "env": self.env, "stdin": stdin }).to_string().into_bytes()
    }
}

/// Command tasks with the upstream outputs on stdin.
fn with_upstream_stdin(
    tasks: Vec<(TaskSpec, Option<CommandFields>)>,
    inputs: &Inputs,
    upstream_commands: &HashMap<String, bool>,
) -> Vec<TaskSpec> {
    let mut stdin = String::new();
    for input in inputs.all() {
        if upstream_commands.get(&input.node).copied().unwrap_or(false) {
            stdin.push_str(&command_stdout(&input.output));
        } else {
            stdin.push_str(&String::from_utf8_lossy(&input.output));
        }
    }
    tasks
        .into_iter()
        .map(|(mut task, command_opt)| {
            if let Some(command) = command_opt {
                task.payload = command.payload(Some(&stdin)).into();
            }
            task
        })
        .collect()
}

/// The `stdout` of a command task's JSON output (the raw text if it is not one).
pub(crate) fn command_stdout(output: &[u8]) -> String {
    match serde_json::from_slice::<Value>(output) {
        Ok(Value::Object(object)) => match object.get("stdout") {
            Some(Value::String(stdout)) => stdout.clone(),
            _ => String::from_utf8_lossy(output).into_owned(),
        },
        _ => String::from_utf8_lossy(output).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> anyhow::Result<GraphFile> {
        let file: GraphFile = toml::from_str(text)?;
        Ok(file)
    }

    #[test]
    fn count_expands_ids_and_vars_and_commands_get_json_payloads() {
        let file = parse(
            r#"
            version = 1
            id = "g"
            vars = { dir = "/data" }
            [[stage]]
            name = "map"
            count = 2
            shell = "wc -w < {dir}/{i}.txt"
            [[stage]]
            name = "say"
            executor = "echo"
            after = ["map"]
            [[stage.task]]
            id = "only"
            payload = "in {dir}"
            "#,
        )
        .expect("parses");
        let map = file.tasks_of(&file.stages[0]).expect("tasks");
        assert_eq!(map[1].0.task_id, "t1");
        let payload: Value = serde_json::from_slice(&map[1].0.payload).expect("json");
        assert_eq!(payload, json!({"argv": ["wc -w < /data/1.txt"], "shell": true, "env": {}, "stdin": null}));
        let say = file.tasks_of(&file.stages[1]).expect("tasks");
        assert_eq!((say[0].0.task_id.as_str(), &say[0].0.payload[..]), ("only", b"in /data".as_slice()));
        assert!(file.build().is_ok());
    }

    #[test]
    fn mistakes_are_named() {
        let error = parse("version = 1\n[[stage]]\nname = \"x\"\ncount = 1\nargv = [\"a\"]\nshell = \"b\"\n")
            .expect("parses")
            .build()
            .unwrap_err();
        assert_eq!(format!("{error:#}"), "stage \"x\": task t0: a command task needs exactly one of argv or shell");
        let unknown = parse("version = 1\n[[stage]]\nname = \"x\"\nargs = []\n").unwrap_err().to_string();
        assert!(unknown.contains("unknown field `args`"), "{unknown}");
        let edge = parse("version = 1\n[[stage]]\nname = \"x\"\ncount = 1\nshell = \"true\"\nafter_task = [\"y\"]\n")
            .expect("parses")
            .build()
            .unwrap_err();
        assert!(edge.to_string().contains("must be \"node/task\""), "{edge}");
    }

    #[test]
    fn upstream_stdout_reaches_stdin() {
        let fields = CommandFields { argv: vec!["cat".into()], shell: false, env: BTreeMap::new(), stdin_opt: None };
        let task = TaskSpec::new("t", COMMAND, fields.payload(None));
        let inputs = Inputs::new(vec![
            passer::graph::Input { node: "a".into(), task: "0".into(), output: br#"{"stdout":"x\n"}"#.to_vec().into() },
            passer::graph::Input { node: "b".into(), task: "0".into(), output: b"raw".to_vec().into() },
        ]);
        let commands = HashMap::from([("a".to_owned(), true), ("b".to_owned(), false)]);
        let built = with_upstream_stdin(vec![(task, Some(fields))], &inputs, &commands);
        let payload: Value = serde_json::from_slice(&built[0].payload).expect("json");
        assert_eq!(payload["stdin"], "x\nraw");
    }
}
