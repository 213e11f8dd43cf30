//! The PDF report, written natively with `pdf-writer` (no pandoc, LaTeX or browser at run
//! time): A4 pages in PDF's standard Helvetica, with the same content as the HTML report —
//! an overview of several journals, then per journal (each from a new page) its facts, the
//! activities table and the timeline chart — and `page i of n` on every page. Tables break
//! across pages and repeat their header.

mod font;

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str, TextStr};

use self::font::{Font, encode};
use super::{
    ACTIVITY_COLUMNS, Bar, OVERVIEW_COLUMNS, Summary, TITLE, Tone, overview_row, tick_label, ticks,
};

/// A4 in points (1/72 in).
const PAGE_WIDTH: f32 = 595.28;
const PAGE_HEIGHT: f32 = 841.89;
const MARGIN: f32 = 48.0;
/// The first baseline area and the lowest point content may reach (the footer is below).
const TOP: f32 = PAGE_HEIGHT - MARGIN;
const BOTTOM: f32 = MARGIN + 16.0;
const WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN;

/// Body text size and line height, in pt.
const SIZE: f32 = 9.5;
const LEADING: f32 = 13.0;
/// Table text size, line height and cell padding, in pt.
const CELL_SIZE: f32 = 8.0;
const CELL_LEADING: f32 = 10.0;
const PAD: f32 = 3.0;
/// At most this many lines per table cell; the last shows `…` when text is cut.
const CELL_LINES: usize = 3;

#[derive(Debug, Clone, Copy)]
struct Rgb(f32, f32, f32);

const INK: Rgb = Rgb(0.1, 0.1, 0.1);
const MUTED: Rgb = Rgb(0.42, 0.42, 0.42);
const RULE: Rgb = Rgb(0.8, 0.8, 0.8);
const HEADER_FILL: Rgb = Rgb(0.93, 0.93, 0.93);
const GREEN: Rgb = Rgb(0.18, 0.616, 0.31);
const AMBER: Rgb = Rgb(0.878, 0.627, 0.0);
const RED: Rgb = Rgb(0.776, 0.157, 0.157);

fn tone_colour(tone: Tone) -> Rgb {
    match tone {
        Tone::Succeeded => GREEN,
        Tone::Missed => AMBER,
        Tone::Failed => RED,
    }
}

/// The colour of a table cell's text: statuses in their tone, everything else in ink.
fn cell_colour(text: &str) -> Rgb {
    match text {
        "failed" | "missed" | "not met" => RED,
        "succeeded" | "met" | "completed" => GREEN,
        _ if text.contains("deviated") || text.starts_with("aborted") => RED,
        _ => INK,
    }
}

/// A table column: its title, its share of the width, and whether it holds numbers
/// (right-aligned).
#[derive(Debug, Clone, Copy)]
struct Column {
    title: &'static str,
    share: f32,
    numeric: bool,
}

fn columns(titles: &[&'static str], shares: &[f32], numeric: &[usize]) -> Vec<Column> {
    titles
        .iter()
        .zip(shares)
        .enumerate()
        .map(|(i, (title, share))| Column {
            title,
            share: *share,
            numeric: numeric.contains(&i),
        })
        .collect()
}

/// Renders the summaries as a PDF document.
pub(super) fn render(summaries: &[Summary]) -> Vec<u8> {
    let mut layout = Layout::new();
    layout.heading(TITLE, 18.0);
    if summaries.len() > 1 {
        layout.heading("Overview", 13.0);
        let rows: Vec<Vec<String>> = summaries.iter().map(|s| overview_row(s).to_vec()).collect();
        layout.table(
            &columns(&OVERVIEW_COLUMNS, &[0.3, 0.2, 0.18, 0.08, 0.1, 0.14], &[5]),
            &rows,
        );
    }
    for (i, summary) in summaries.iter().enumerate() {
        if i > 0 || summaries.len() > 1 {
            layout.new_page();
        }
        layout.journal(summary);
    }
    layout.finish()
}

/// Pages being laid out top to bottom.
struct Layout {
    done: Vec<Content>,
    page: Content,
    /// The current position: content goes below it.
    y: f32,
}

impl Layout {
    fn new() -> Layout {
        Layout {
            done: Vec::new(),
            page: Content::new(),
            y: TOP,
        }
    }

    fn new_page(&mut self) {
        let page = std::mem::replace(&mut self.page, Content::new());
        self.done.push(page);
        self.y = TOP;
    }

    /// Starts a new page unless `height` pt still fit on this one (or it is empty).
    fn ensure(&mut self, height: f32) {
        if self.y - height < BOTTOM && self.y < TOP {
            self.new_page();
        }
    }

    fn text(&mut self, x: f32, baseline: f32, font: Font, size: f32, colour: Rgb, text: &str) {
        let bytes = encode(text);
        self.page
            .set_fill_rgb(colour.0, colour.1, colour.2)
            .begin_text()
            .set_font(font.resource(), size)
            .next_line(x, baseline)
            .show(Str(&bytes))
            .end_text();
    }

    fn fill(&mut self, x: f32, y: f32, width: f32, height: f32, colour: Rgb) {
        self.page
            .set_fill_rgb(colour.0, colour.1, colour.2)
            .rect(x, y, width, height)
            .fill_nonzero();
    }

    fn line(&mut self, from: (f32, f32), to: (f32, f32), colour: Rgb) {
        self.page
            .set_stroke_rgb(colour.0, colour.1, colour.2)
            .set_line_width(0.5)
            .move_to(from.0, from.1)
            .line_to(to.0, to.1)
            .stroke();
    }

    fn heading(&mut self, text: &str, size: f32) {
        let lines = wrap(text, Font::Bold, size, WIDTH);
        // Keep a heading with at least three lines of what follows.
        self.ensure(size * 1.6 + 3.0 * LEADING);
        self.y -= size * 0.6;
        for line in lines {
            self.ensure(size * 1.25);
            self.y -= size * 1.25;
            self.text(MARGIN, self.y, Font::Bold, size, INK, &line);
        }
        self.y -= size * 0.5;
    }

    fn paragraph(&mut self, text: &str, colour: Rgb) {
        for line in wrap(text, Font::Regular, SIZE, WIDTH) {
            self.ensure(LEADING);
            self.y -= LEADING;
            self.text(MARGIN, self.y, Font::Regular, SIZE, colour, &line);
        }
        self.y -= LEADING * 0.4;
    }

    /// Label–value lines, the values wrapped beside their labels.
    fn facts(&mut self, facts: &[(&'static str, String)]) {
        const LABEL: f32 = 150.0;
        for (label, value) in facts {
            let lines = wrap(value, Font::Regular, SIZE, WIDTH - LABEL);
            self.ensure(LEADING * lines.len().max(1) as f32);
            self.y -= LEADING;
            self.text(MARGIN, self.y, Font::Bold, SIZE, INK, label);
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    self.y -= LEADING;
                }
                self.text(
                    MARGIN + LABEL,
                    self.y,
                    Font::Regular,
                    SIZE,
                    cell_colour(value),
                    line,
                );
            }
        }
        self.y -= LEADING * 0.6;
    }

    /// A table with a shaded header row, repeated on every page it spans.
    fn table(&mut self, columns: &[Column], rows: &[Vec<String>]) {
        let widths: Vec<f32> = columns.iter().map(|c| c.share * WIDTH).collect();
        let header_height = CELL_LEADING + 2.0 * PAD;
        self.ensure(header_height + CELL_LEADING + 2.0 * PAD);
        self.table_header(columns, &widths);
        for row in rows {
            let cells: Vec<Vec<String>> = row
                .iter()
                .zip(&widths)
                .map(|(text, width)| {
                    clip(
                        wrap(text, Font::Regular, CELL_SIZE, width - 2.0 * PAD),
                        CELL_LINES,
                        width - 2.0 * PAD,
                    )
                })
                .collect();
            let lines = cells.iter().map(Vec::len).max().unwrap_or(1).max(1);
            let height = lines as f32 * CELL_LEADING + 2.0 * PAD;
            if self.y - height < BOTTOM {
                self.new_page();
                self.table_header(columns, &widths);
            }
            let mut x = MARGIN;
            for ((column, width), (cell, text)) in
                columns.iter().zip(&widths).zip(cells.iter().zip(row))
            {
                for (i, line) in cell.iter().enumerate() {
                    let baseline = self.y - PAD - (i as f32 + 1.0) * CELL_LEADING + 2.0;
                    let left = if column.numeric {
                        x + width - PAD - Font::Regular.width(line, CELL_SIZE)
                    } else {
                        x + PAD
                    };
                    self.text(
                        left,
                        baseline,
                        Font::Regular,
                        CELL_SIZE,
                        cell_colour(text),
                        line,
                    );
                }
                x += width;
            }
            self.y -= height;
            self.line((MARGIN, self.y), (MARGIN + WIDTH, self.y), RULE);
        }
        self.y -= LEADING * 0.6;
    }

    fn table_header(&mut self, columns: &[Column], widths: &[f32]) {
        let height = CELL_LEADING + 2.0 * PAD;
        self.fill(MARGIN, self.y - height, WIDTH, height, HEADER_FILL);
        let mut x = MARGIN;
        for (column, width) in columns.iter().zip(widths) {
            let title = clip(vec![column.title.to_owned()], 1, width - 2.0 * PAD);
            let title = title.first().map_or("", String::as_str);
            let left = if column.numeric {
                x + width - PAD - Font::Bold.width(title, CELL_SIZE)
            } else {
                x + PAD
            };
            let baseline = self.y - PAD - CELL_LEADING + 2.0;
            self.text(left, baseline, Font::Bold, CELL_SIZE, INK, title);
            x += width;
        }
        self.y -= height;
    }

    /// One journal: title, description, facts, activities and timeline.
    fn journal(&mut self, summary: &Summary) {
        self.heading(&summary.title, 15.0);
        if !summary.description.is_empty() {
            self.paragraph(&summary.description, MUTED);
        }
        self.facts(&summary.facts());
        self.heading("Activities", 12.0);
        if summary.bars.is_empty() {
            self.paragraph("No activity ran.", MUTED);
        } else {
            let rows: Vec<Vec<String>> = summary.bars.iter().map(|b| b.cells().to_vec()).collect();
            self.table(
                &columns(
                    &ACTIVITY_COLUMNS,
                    &[0.09, 0.24, 0.1, 0.1, 0.09, 0.11, 0.27],
                    &[4, 5],
                ),
                &rows,
            );
        }
        self.heading("Timeline", 12.0);
        if summary.bars.is_empty() {
            self.paragraph("Nothing to draw.", MUTED);
        } else {
            self.timeline(&summary.bars, summary.total);
        }
    }

    /// One row per activity, bars placed by start and length on a shared axis, with
    /// grid lines at the ticks; the axis labels close the chart (and every page it spans).
    fn timeline(&mut self, bars: &[Bar], total: f64) {
        const LABEL: f32 = 170.0;
        const ROW: f32 = 14.0;
        const AXIS: f32 = 16.0;
        let left = MARGIN + LABEL;
        let width = WIDTH - LABEL;
        let ticks = ticks(total);
        let x_of = |seconds: f64| left + (seconds / total) as f32 * width;
        self.ensure(ROW * 2.0 + AXIS);
        let mut top = self.y;
        for bar in bars {
            if self.y - ROW - AXIS < BOTTOM {
                self.axis(&ticks, top, x_of);
                self.new_page();
                top = self.y;
            }
            self.y -= ROW;
            let label = format!("{} · {}", bar.phase, bar.label);
            let label = clip(vec![label], 1, LABEL - 6.0);
            let label = label.first().map_or("", String::as_str);
            self.text(MARGIN, self.y + 3.5, Font::Regular, CELL_SIZE, INK, label);
            let x = x_of(bar.offset);
            let w = ((bar.duration / total) as f32 * width).max(1.5);
            self.fill(x, self.y + 2.0, w, ROW - 4.0, tone_colour(bar.tone()));
        }
        self.axis(&ticks, top, x_of);
        self.y -= AXIS;
        self.legend();
    }

    /// Grid lines from `top` down to the current row, and the tick labels below.
    fn axis(&mut self, ticks: &[f64], top: f32, x_of: impl Fn(f64) -> f32) {
        for tick in ticks {
            let x = x_of(*tick);
            self.line((x, top), (x, self.y), RULE);
            let label = tick_label(*tick);
            let half = Font::Regular.width(&label, 7.0) / 2.0;
            self.text(x - half, self.y - 9.0, Font::Regular, 7.0, MUTED, &label);
        }
    }

    fn legend(&mut self) {
        self.ensure(LEADING);
        self.y -= LEADING;
        let mut x = MARGIN;
        for (tone, word) in [
            (Tone::Succeeded, "succeeded"),
            (Tone::Missed, "tolerance not met"),
            (Tone::Failed, "failed"),
        ] {
            self.fill(x, self.y, 8.0, 8.0, tone_colour(tone));
            self.text(x + 11.0, self.y + 1.0, Font::Regular, 7.5, MUTED, word);
            x += 22.0 + Font::Regular.width(word, 7.5);
        }
        self.y -= LEADING * 0.6;
    }

    /// Adds the footers and writes the document.
    fn finish(mut self) -> Vec<u8> {
        self.new_page();
        let count = self.done.len();
        let catalog = Ref::new(1);
        let tree = Ref::new(2);
        let regular = Ref::new(3);
        let bold = Ref::new(4);
        let info = Ref::new(5);
        let first_page = 6;
        let page_ids: Vec<Ref> = (0..count)
            .map(|i| Ref::new(first_page + 2 * i as i32))
            .collect();
        let mut pdf = Pdf::new();
        pdf.catalog(catalog).pages(tree);
        pdf.pages(tree)
            .kids(page_ids.iter().copied())
            .count(count as i32);
        for (font, id) in [(Font::Regular, regular), (Font::Bold, bold)] {
            pdf.type1_font(id)
                .base_font(font.base_font())
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        pdf.document_info(info)
            .title(TextStr(TITLE))
            .producer(TextStr(concat!("chaos-admin ", env!("CARGO_PKG_VERSION"))));
        for (i, mut content) in self.done.into_iter().enumerate() {
            let number = format!("page {} of {count}", i + 1);
            let right = PAGE_WIDTH - MARGIN - Font::Regular.width(&number, 7.5);
            for (x, text) in [(MARGIN, TITLE), (right, number.as_str())] {
                content
                    .set_fill_rgb(MUTED.0, MUTED.1, MUTED.2)
                    .begin_text()
                    .set_font(Font::Regular.resource(), 7.5)
                    .next_line(x, MARGIN - 14.0)
                    .show(Str(&encode(text)))
                    .end_text();
            }
            let page_id = page_ids[i];
            let content_id = Ref::new(page_id.get() + 1);
            let mut page = pdf.page(page_id);
            page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
                .parent(tree)
                .contents(content_id);
            let mut resources = page.resources();
            resources
                .fonts()
                .pair(Font::Regular.resource(), regular)
                .pair(Font::Bold.resource(), bold);
            resources.finish();
            page.finish();
            pdf.stream(content_id, &content.finish());
        }
        pdf.finish()
    }
}

/// Greedy word wrap to `width` pt; a word wider than a line is broken between characters.
/// Line breaks in the text start new lines. Always at least one line.
fn wrap(text: &str, font: Font, size: f32, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    for paragraph in text.split('\n') {
        let mut line = String::new();
        for word in paragraph.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if font.width(&candidate, size) <= width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for c in word.chars() {
                let mut next = line.clone();
                next.push(c);
                if font.width(&next, size) > width && !line.is_empty() {
                    lines.push(std::mem::replace(&mut line, c.to_string()));
                } else {
                    line = next;
                }
            }
        }
        lines.push(line);
    }
    lines
}

/// At most `max` lines; when some are dropped the last kept one ends in `…` and still
/// fits `width` pt (measured in the regular font, the wider of the two at table sizes).
fn clip(mut lines: Vec<String>, max: usize, width: f32) -> Vec<String> {
    let cut = lines.len() > max;
    lines.truncate(max);
    let Some(last) = lines.last_mut() else {
        return lines;
    };
    let too_wide = Font::Bold.width(last, CELL_SIZE) > width;
    if cut || too_wide {
        while !last.is_empty() && Font::Bold.width(&format!("{last}…"), CELL_SIZE) > width {
            last.pop();
        }
        last.push('…');
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::super::tests::journal;
    use super::super::{Format, render as render_any};
    use super::*;

    #[test]
    fn wraps_words_and_breaks_long_ones() {
        let lines = wrap("aaa bbb ccc", Font::Regular, 10.0, 45.0);
        assert_eq!(lines, ["aaa bbb", "ccc"]);
        let long = "x".repeat(40);
        let lines = wrap(&long, Font::Regular, 10.0, 50.0);
        assert!(lines.len() > 1);
        assert!(lines.iter().all(|l| Font::Regular.width(l, 10.0) <= 50.0));
        assert_eq!(lines.concat(), long);
        assert_eq!(wrap("a\nb", Font::Regular, 10.0, 500.0), ["a", "b"]);
        assert_eq!(wrap("", Font::Regular, 10.0, 500.0), [""]);
    }

    #[test]
    fn clips_to_lines_with_an_ellipsis() {
        let lines = clip(vec!["one".into(), "two".into(), "three".into()], 2, 100.0);
        assert_eq!(lines, ["one", "two…"]);
        let lines = clip(vec!["a very long title".into()], 1, 30.0);
        assert!(lines[0].ends_with('…'), "{lines:?}");
        assert!(Font::Bold.width(&lines[0], CELL_SIZE) <= 30.0);
    }

    #[test]
    fn writes_one_page_per_journal_after_the_overview() {
        let one = render_any(&[("j.json".into(), journal())], Format::Pdf);
        assert!(one.starts_with(b"%PDF-"));
        assert_eq!(count(&one, b"/Type /Page\n"), 1);
        let three = render_any(
            &[
                ("a.json".into(), journal()),
                ("b.json".into(), journal()),
                ("c.json".into(), journal()),
            ],
            Format::Pdf,
        );
        assert_eq!(count(&three, b"/Type /Page\n"), 4);
        assert_eq!(count(&three, b"(Provider down)"), 3 + 3);
    }

    #[test]
    fn long_journals_break_across_pages_and_repeat_the_header() {
        let mut j = journal();
        let run = j["run"][0].clone();
        j["run"] = serde_json::Value::Array(vec![run; 150]);
        let pdf = render_any(&[("j.json".into(), j)], Format::Pdf);
        let pages = count(&pdf, b"/Type /Page\n");
        assert!(pages >= 4, "{pages} pages");
        // The activities header once per page the table spans.
        assert!(count(&pdf, b"(activity)") >= 3);
        assert!(count(&pdf, format!("of {pages})").as_bytes()) == pages);
    }

    fn count(haystack: &[u8], needle: &[u8]) -> usize {
        haystack
            .windows(needle.len())
            .filter(|w| *w == needle)
            .count()
    }
}
