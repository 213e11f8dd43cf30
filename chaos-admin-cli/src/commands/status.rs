//! `status`: the store's generation and every live app instance with the generation of
//! the snapshot it applies, so a user can see a change has reached every instance.

use std::io::{self, Write};

use chaos_middleware::Store;
use chaos_middleware::action::now_ms;
use chaos_middleware::store::InstanceRow;
use serde_json::{Value, json};

use crate::commands::RegistryArgs;
use crate::error::CliError;
use crate::output;

/// Arguments of `status` (the same as the other registry command's).
pub type Args = RegistryArgs;
/// Nothing to check: the arguments are the plan.
pub type Plan = RegistryArgs;

/// Nothing to check.
pub fn plan(args: Args) -> Plan {
    args
}

/// `current` (applies the store's generation), `behind`, `loading` (nothing applied
/// yet) or `gone` (no recent heartbeat).
fn state(instance: &InstanceRow, store_generation: i64, now: i64) -> &'static str {
    if !instance.is_live_at(now) {
        "gone"
    } else {
        match instance.applied_generation {
            None => "loading",
            Some(g) if g >= store_generation => "current",
            Some(_) => "behind",
        }
    }
}

const HEADER: [&str; 9] = [
    "INSTANCE",
    "HOST",
    "PID",
    "STARTED",
    "LAST SEEN",
    "APPLIED",
    "STATE",
    "SNAPSHOT AGE",
    "FIRED",
];

/// Prints the store generation and the instances.
pub async fn run(plan: Plan, store: &Store) -> Result<(), CliError> {
    let generation = store.generation().await?;
    let guards = store.guards().await?;
    let now = now_ms();
    let instances: Vec<InstanceRow> = store
        .instances()
        .await?
        .into_iter()
        .filter(|i| plan.all || i.is_live_at(now))
        .collect();
    let stdout = io::stdout();
    let mut out = stdout.lock();
    if plan.json {
        let items: Vec<Value> = instances
            .iter()
            .map(|i| {
                let mut item = json!({
                    "id": i.id,
                    "host": i.host,
                    "pid": i.pid,
                    "started_at": i.started_at,
                    "last_seen": i.last_seen,
                    "heartbeat_ms": i.heartbeat_ms,
                    "applied_generation": i.applied_generation,
                    "applied_at": i.applied_at,
                    "snapshot_age_ms": i.applied_at.map(|at| now.saturating_sub(at)),
                    "state": state(i, generation, now),
                    "fired": i.fired_total(),
                });
                output::rfc3339_fields(&mut item, &["started_at", "last_seen", "applied_at"]);
                item
            })
            .collect();
        let document = json!({
            "store": store.location(),
            "backend": store.backend_name(),
            "generation": generation,
            "instances": items,
            "guards": guards,
        });
        let result = serde_json::to_writer_pretty(&mut out, &document)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out));
        output::ignore_broken_pipe(result)?;
        return Ok(());
    }
    let mut text = crate::commands::guard::tripped_banner(&guards);
    text.push_str(&format!(
        "store: {} ({}), generation {generation}\n",
        store.location(),
        store.backend_name()
    ));
    if instances.is_empty() {
        text.push_str("no live app instances (`status --all` also shows stopped ones)\n");
        output::ignore_broken_pipe(out.write_all(text.as_bytes()))?;
        return Ok(());
    }
    let current = instances
        .iter()
        .filter(|i| state(i, generation, now) == "current")
        .count();
    text.push_str(&format!(
        "{current} of {} instances apply generation {generation}\n",
        instances.len()
    ));
    output::ignore_broken_pipe(out.write_all(text.as_bytes()))?;
    let rows: Vec<Vec<String>> = instances
        .iter()
        .map(|i| {
            vec![
                i.id.clone(),
                i.host.clone(),
                i.pid.to_string(),
                output::timestamp(i.started_at),
                output::ago(now, i.last_seen),
                i.applied_generation
                    .map_or_else(|| "-".to_owned(), |g| g.to_string()),
                state(i, generation, now).to_owned(),
                i.applied_at
                    .map_or_else(|| "-".to_owned(), |at| output::age(now, at)),
                output::fired(Some(i.fired_total())),
            ]
        })
        .collect();
    output::ignore_broken_pipe(output::write_table(&mut out, &HEADER, &rows))?;
    Ok(())
}
