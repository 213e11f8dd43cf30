//! Masking the hidden actions of a running exercise: `list`, `show` and their `--json`
//! say that such an action exists (id, state, tag) and nothing else — no kind, view,
//! verb, status, timing, probability or audience.

use chaos_middleware::Action;

use crate::output;

/// What `list` and `show` print where the details would be.
pub const HIDDEN: &str = "hidden";

/// The row `list` prints for a hidden action, one cell per column of `header`: the id,
/// the state, `hidden` in the KIND column, the tag in the TAG column, the rest blank.
pub fn row(action: &Action, now_ms: i64, header: &[&str]) -> Vec<String> {
    header
        .iter()
        .map(|column| match *column {
            "ID" => action.id.to_string(),
            "STATE" => output::state(action, now_ms).to_owned(),
            "KIND" => HIDDEN.to_owned(),
            "TAG" => action.spec.tag.clone().unwrap_or_default(),
            _ => String::new(),
        })
        .collect()
}

/// The JSON object of a hidden action: `{"id", "state", "hidden": true, "tag"}` (shared
/// with the web admin's API).
pub use chaos_middleware::action::describe::hidden_json as json;

/// The `show` text of a hidden action.
pub fn lines(action: &Action, now_ms: i64) -> String {
    format!(
        "id:     {}\nstate:  {}\nhidden: an exercise fault; its details stay hidden until \
         `chaos-admin exercise reveal` or `exercise end`",
        action.id,
        output::state(action, now_ms)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chaos_middleware::{ActionSpec, Fault, Kind, Phase};
    use serde_json::json;

    fn secret() -> Action {
        let mut spec = ActionSpec::new(
            Kind::Response,
            "checkout",
            Fault::Slow {
                min_ms: 1700,
                max_ms: 2300,
                phase: Phase::Before,
            },
        );
        spec.tag = Some("exercise".into());
        spec.probability = 0.75;
        spec.expires_at = Some(9_000_000);
        Action {
            id: 7,
            spec,
            created_at: 1,
            updated_at: 1,
            created_by: Some("lead".into()),
        }
    }

    fn assert_secret_kept(text: &str) {
        for leak in [
            "checkout", "slow", "response", "1700", "1s 700ms", "2300", "75", "before", "lead",
        ] {
            assert!(!text.contains(leak), "{leak:?} leaks in {text:?}");
        }
    }

    #[test]
    fn masked_outputs_show_only_id_state_and_tag() {
        let action = secret();
        let header = [
            "ID", "STATE", "KIND", "VERB", "TARGET", "DETAIL", "PROB", "TAG",
        ];
        let cells = row(&action, 0, &header);
        assert_eq!(
            cells,
            ["7", "enabled", "hidden", "", "", "", "", "exercise"].map(String::from)
        );
        let value = json(&action, 0);
        assert_eq!(
            value,
            json!({"id": 7, "state": "enabled", "hidden": true, "tag": "exercise"})
        );
        assert_secret_kept(&value.to_string());
        let text = lines(&action, 0);
        assert!(
            text.contains("id:     7") && text.contains("hidden"),
            "{text}"
        );
        assert_secret_kept(&text);
        assert_eq!(json(&action, 9_000_000)["state"], "expired");
    }
}
