-- A suspended organisation keeps its data; its API keys and members are refused until resumed.
ALTER TABLE tenants ADD COLUMN suspended_at BIGINT;
