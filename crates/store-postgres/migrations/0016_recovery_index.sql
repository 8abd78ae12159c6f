-- The recovery index orders by (quiet since, id), the scan's page order, so each attempt
-- count's range is read in order and a page stops at its limit.
DROP INDEX leads_recovery;
CREATE INDEX leads_recovery ON leads(tenant_id, status, recovery_attempts, quiet_since, id)
    WHERE quiet_since IS NOT NULL;
