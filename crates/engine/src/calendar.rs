//! Calendar invitations (iCalendar, RFC 5545) for appointment emails.
//!
//! One `VEVENT` per appointment, its `UID` the appointment's id and its `SEQUENCE` the
//! appointment's revision, so a calendar that took an earlier reminder updates the event in
//! place when the appointment moves. Times are written in UTC, which every client converts to
//! its own zone.

use std::fmt::Write as _;

use domain::Timestamp;
use domain::appointment::Appointment;

/// What the invitation is for.
pub struct Invitation<'a> {
    pub appointment: &'a Appointment,
    pub organizer_name: &'a str,
    pub organizer_email: &'a str,
    pub attendee_email: &'a str,
    /// When the invitation is made (`DTSTAMP`).
    pub stamp: Timestamp,
}

/// `20261124T150000Z`
fn utc(t: Timestamp) -> String {
    t.strftime("%Y%m%dT%H%M%SZ").to_string()
}

/// A TEXT value with `\`, `;`, `,` and line breaks escaped.
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded at 75 octets (never inside a character), ended by CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

impl Invitation<'_> {
    /// The `.ics` file: `METHOD:REQUEST`.
    pub fn to_ics(&self) -> String {
        let a = self.appointment;
        let mut out = String::new();
        line(&mut out, "BEGIN:VCALENDAR");
        line(&mut out, "VERSION:2.0");
        line(&mut out, "PRODID:-//Leadline//Appointments//EN");
        line(&mut out, "CALSCALE:GREGORIAN");
        line(&mut out, "METHOD:REQUEST");
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}@leadline", a.id));
        line(&mut out, &format!("SEQUENCE:{}", a.revision));
        line(&mut out, &format!("DTSTAMP:{}", utc(self.stamp)));
        line(&mut out, &format!("DTSTART:{}", utc(a.starts_at)));
        line(&mut out, &format!("DTEND:{}", utc(a.ends_at)));
        line(&mut out, &format!("SUMMARY:{}", text(&a.title)));
        if let Some(location) = &a.location {
            line(&mut out, &format!("LOCATION:{}", text(location)));
        }
        let mut organizer = String::from("ORGANIZER");
        if !self.organizer_name.is_empty() {
            let name = self.organizer_name.replace(['"', '\r', '\n'], "");
            let _ = write!(organizer, ";CN=\"{name}\"");
        }
        let _ = write!(organizer, ":mailto:{}", self.organizer_email);
        line(&mut out, &organizer);
        line(
            &mut out,
            &format!(
                "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=FALSE:mailto:{}",
                self.attendee_email
            ),
        );
        line(&mut out, "STATUS:CONFIRMED");
        line(&mut out, "END:VEVENT");
        line(&mut out, "END:VCALENDAR");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::appointment::AppointmentState;
    use domain::{AppointmentId, LeadId, TenantId};

    fn appointment(title: &str, location: Option<&str>) -> Appointment {
        let start: Timestamp = "2026-11-24T21:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        Appointment {
            id: AppointmentId::new(),
            tenant_id: TenantId::new(),
            lead_id: LeadId::new(),
            state: AppointmentState::Scheduled,
            starts_at: start,
            ends_at: start + jiff::SignedDuration::from_hours(1),
            time_zone: "America/Chicago".into(),
            title: title.into(),
            location: location.map(str::to_owned),
            revision: 2,
            created_at: start,
            updated_at: start,
        }
    }

    #[test]
    fn an_invitation_has_the_event_in_utc_with_its_revision() {
        let a = appointment("Roof estimate", Some("12 Elm St, Springfield; back door"));
        let ics = Invitation {
            appointment: &a,
            organizer_name: "Acme Roofing",
            organizer_email: "hello@acme.test",
            attendee_email: "jane@example.com",
            stamp: a.created_at,
        }
        .to_ics();
        assert!(
            ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
            "{ics}"
        );
        assert!(ics.ends_with("END:VCALENDAR\r\n"));
        for expected in [
            "METHOD:REQUEST\r\n",
            &format!("UID:{}@leadline\r\n", a.id),
            "SEQUENCE:2\r\n",
            "DTSTART:20261124T210000Z\r\n",
            "DTEND:20261124T220000Z\r\n",
            "SUMMARY:Roof estimate\r\n",
            "LOCATION:12 Elm St\\, Springfield\\; back door\r\n",
            "ORGANIZER;CN=\"Acme Roofing\":mailto:hello@acme.test\r\n",
        ] {
            assert!(ics.contains(expected), "{expected:?} in {ics}");
        }
        assert!(!ics.replace("\r\n", "").contains('\n'), "CRLF only");
    }

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let title = "Détails ".repeat(20);
        let a = appointment(&title, None);
        let ics = Invitation {
            appointment: &a,
            organizer_name: "",
            organizer_email: "a@b.test",
            attendee_email: "c@d.test",
            stamp: a.created_at,
        }
        .to_ics();
        for l in ics.split("\r\n") {
            assert!(l.len() <= 75, "{l:?} is {} octets", l.len());
        }
        let unfolded = ics.replace("\r\n ", "");
        assert!(unfolded.contains(&format!("SUMMARY:{}", title)));
        assert!(!ics.contains("LOCATION"));
    }
}
