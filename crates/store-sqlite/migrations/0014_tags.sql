-- Lead tags: the business's own labels (not personal data), a JSON array, matched by sequences'
-- enrolment rules.

ALTER TABLE leads ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
