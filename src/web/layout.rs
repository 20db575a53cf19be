//! A transition graph drawn as SVG: actions as boxes coloured by state,
//! orderings as arrows. Layered left to right: each action sits one column
//! after the latest action it waits for, and the boxes of a column are
//! ordered by the mean row of what they wait for (one barycentre pass), so
//! arrows mostly run straight. Pure: the same record gives the same picture.

use crate::model::control::history::{ActionRecord, TransitionRecord};
use std::collections::HashMap;
use std::fmt::Write as _;

pub const BOX_WIDTH: u32 = 250;
pub const BOX_HEIGHT: u32 = 30;
const COLUMN_GAP: u32 = 60;
const ROW_GAP: u32 = 14;
const MARGIN: u32 = 10;
/// Longest label drawn in a box; the whole text is the box's tooltip.
const LABEL_CHARS_MAX: usize = 36;

/// What happened to an action, as the colour of its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionState {
    Pending,
    Running,
    Done,
    Failed,
}

impl ActionState {
    pub fn of(action: &ActionRecord) -> ActionState {
        match (&action.result, action.started_epoch_ms) {
            (Some(result), _) if result == "ok" => ActionState::Done,
            (Some(_), _) => ActionState::Failed,
            (None, Some(_)) => ActionState::Running,
            (None, None) => ActionState::Pending,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ActionState::Pending => "pending",
            ActionState::Running => "running",
            ActionState::Done => "done",
            ActionState::Failed => "failed",
        }
    }
}

/// Where each action's box goes: `(column, row)` by action id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub place: HashMap<u32, (u32, u32)>,
    pub columns: u32,
    pub rows: u32,
}

/// Columns by longest path from the actions that wait for nothing; an
/// action in a cycle (never in a valid graph) or waiting for an unknown id
/// goes after everything it can be placed after, never lost.
pub fn layers(actions: &[ActionRecord]) -> HashMap<u32, u32> {
    let known: HashMap<u32, &ActionRecord> = actions.iter().map(|a| (a.id, a)).collect();
    let mut column: HashMap<u32, u32> = HashMap::new();
    // At most one pass per action settles every acyclic chain.
    for _ in 0..=actions.len() {
        let mut changed = false;
        for a in actions {
            let wanted = a
                .after
                .iter()
                .filter(|p| known.contains_key(p) && **p != a.id)
                .map(|p| column.get(p).map_or(1, |c| c + 1))
                .max()
                .unwrap_or(0)
                .min(actions.len() as u32);
            if column.get(&a.id) != Some(&wanted) {
                column.insert(a.id, wanted);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    column
}

pub fn layout(actions: &[ActionRecord]) -> Layout {
    let column = layers(actions);
    let columns = column.values().max().map_or(0, |c| c + 1);
    let mut by_column: Vec<Vec<&ActionRecord>> = vec![Vec::new(); columns as usize];
    for a in actions {
        by_column[column[&a.id] as usize].push(a);
    }
    let mut row: HashMap<u32, u32> = HashMap::new();
    for members in by_column.iter_mut() {
        // Barycentre of the rows of what it waits for, then id: stable.
        let key = |a: &ActionRecord| {
            let rows: Vec<u32> = a.after.iter().filter_map(|p| row.get(p).copied()).collect();
            let mean_x2 = match rows.len() {
                0 => 0,
                n => rows.iter().map(|r| u64::from(*r) * 2).sum::<u64>() / n as u64,
            };
            (mean_x2, a.id)
        };
        members.sort_by_key(|a| key(a));
        for (i, a) in members.iter().enumerate() {
            row.insert(a.id, i as u32);
        }
    }
    let rows = by_column.iter().map(|c| c.len() as u32).max().unwrap_or(0);
    let place = actions
        .iter()
        .map(|a| (a.id, (column[&a.id], row[&a.id])))
        .collect();
    Layout {
        place,
        columns,
        rows,
    }
}

/// Text made safe inside XML or HTML (elements and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\r' => out.push_str("&#13;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn label(text: &str) -> String {
    if text.chars().count() <= LABEL_CHARS_MAX {
        return text.to_string();
    }
    let cut: String = text.chars().take(LABEL_CHARS_MAX - 1).collect();
    format!("{cut}…")
}

fn box_origin(column: u32, row: u32) -> (u32, u32) {
    (
        MARGIN + column * (BOX_WIDTH + COLUMN_GAP),
        MARGIN + row * (BOX_HEIGHT + ROW_GAP),
    )
}

/// The transition's graph as a standalone `<svg>` element.
pub fn svg(record: &TransitionRecord) -> String {
    let layout = layout(&record.actions);
    let width = 2 * MARGIN + layout.columns.max(1) * (BOX_WIDTH + COLUMN_GAP) - COLUMN_GAP;
    let height = 2 * MARGIN + layout.rows.max(1) * (BOX_HEIGHT + ROW_GAP) - ROW_GAP;
    let mut out = String::with_capacity(512 + record.actions.len() * 400);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"graph\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" data-transition=\"{}\">",
        record.id
    );
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>");
    if record.actions.is_empty() {
        out.push_str("<text x=\"12\" y=\"28\" class=\"empty\">no actions</text>");
    }
    for a in &record.actions {
        let (tc, tr) = layout.place[&a.id];
        let (tx, ty) = box_origin(tc, tr);
        for p in &a.after {
            let Some(&(sc, sr)) = layout.place.get(p) else {
                continue;
            };
            let (sx, sy) = box_origin(sc, sr);
            let (x1, y1) = (sx + BOX_WIDTH, sy + BOX_HEIGHT / 2);
            let (x2, y2) = (tx, ty + BOX_HEIGHT / 2);
            let bend = (x2.saturating_sub(x1)).max(20) / 2;
            let _ = write!(
                out,
                "<path class=\"edge\" d=\"M{x1},{y1} C{},{y1} {},{y2} {x2},{y2}\" marker-end=\"url(#arrow)\"/>",
                x1 + bend,
                x2.saturating_sub(bend)
            );
        }
    }
    for a in &record.actions {
        let (c, r) = layout.place[&a.id];
        let (x, y) = box_origin(c, r);
        let pseudo = a.node.is_none();
        // A pseudo-action runs nothing: done once its transition completed.
        let state = match ActionState::of(a) {
            ActionState::Pending if pseudo && record.outcome.as_deref() == Some("complete") => {
                ActionState::Done
            }
            state => state,
        };
        let mut tooltip = format!("[{}] {} ({})", a.id, a.description, state.name());
        if let Some(result) = &a.result {
            let _ = write!(tooltip, ": {result}");
        }
        let _ = write!(
            out,
            "<g class=\"action {}{}\" data-action=\"{}\"><title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{BOX_WIDTH}\" height=\"{BOX_HEIGHT}\" rx=\"5\"/><text x=\"{}\" y=\"{}\">{}</text></g>",
            state.name(),
            if pseudo { " pseudo" } else { "" },
            a.id,
            escape(&tooltip),
            x + 8,
            y + BOX_HEIGHT / 2 + 4,
            escape(&label(&a.description)),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(id: u32, after: &[u32], result: Option<&str>, started: bool) -> ActionRecord {
        ActionRecord {
            id,
            description: format!("start r{id} on n1"),
            result: result.map(String::from),
            node: Some("n1".into()),
            started_epoch_ms: started.then_some(1),
            ended_epoch_ms: None,
            rc: None,
            after: after.to_vec(),
        }
    }

    #[test]
    fn columns_follow_the_longest_chain() {
        // 0 -> 1 -> 3, 0 -> 3, 2 alone.
        let actions = vec![
            action(3, &[1, 0], None, false),
            action(1, &[0], None, false),
            action(0, &[], None, false),
            action(2, &[], None, false),
        ];
        let l = layout(&actions);
        assert_eq!(l.place[&0].0, 0);
        assert_eq!(l.place[&2].0, 0);
        assert_eq!(l.place[&1].0, 1);
        assert_eq!(l.place[&3].0, 2);
        assert_eq!((l.columns, l.rows), (3, 2));
        // No two boxes share a place.
        let mut places: Vec<_> = l.place.values().collect();
        places.sort();
        places.dedup();
        assert_eq!(places.len(), 4);
    }

    #[test]
    fn a_cycle_or_unknown_id_is_placed_not_lost() {
        let actions = vec![
            action(1, &[2, 99], None, false),
            action(2, &[1], None, false),
        ];
        let l = layout(&actions);
        assert_eq!(l.place.len(), 2);
        assert!(l.columns <= 3);
    }

    #[test]
    fn states_and_svg_boxes_and_arrows() {
        let mut record = TransitionRecord::new(
            7,
            "n1",
            "node n2 lost",
            Default::default(),
            0,
            &Default::default(),
        );
        record.actions = vec![
            action(0, &[], Some("ok"), true),
            action(1, &[0], None, true),
            action(2, &[1], Some("failed: rc 1"), true),
            action(3, &[2], None, false),
        ];
        record.actions[3].description = "<script>&".into();
        let svg = svg(&record);
        assert_eq!(svg.matches("<g class=\"action").count(), 4);
        assert_eq!(svg.matches("class=\"edge\"").count(), 3);
        for state in ["done", "running", "failed", "pending"] {
            assert!(
                svg.contains(&format!("class=\"action {state}\"")),
                "{state}"
            );
        }
        assert!(svg.contains("&lt;script&gt;&amp;") && !svg.contains("<script>"));
    }

    #[test]
    fn long_labels_are_cut_with_the_whole_text_as_tooltip() {
        let mut a = action(0, &[], None, false);
        a.description = "x".repeat(100);
        let mut record =
            TransitionRecord::new(1, "n1", "c", Default::default(), 0, &Default::default());
        record.actions = vec![a];
        let svg = svg(&record);
        assert!(svg.contains(&"x".repeat(100)));
        assert!(svg.contains('…'));
    }
}
