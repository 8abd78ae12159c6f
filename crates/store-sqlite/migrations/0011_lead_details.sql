-- A lead's answers to its source's own questions (Meta custom questions, form fields beyond the
-- standard ones), sealed like the rest of its personal data: a JSON object of question to answer.

ALTER TABLE leads ADD COLUMN details_ct BLOB;
