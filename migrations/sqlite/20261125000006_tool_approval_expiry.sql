-- How long approval requests for a tool stay open when the request does not say (seconds).
alter table tools add column approval_expires_in_s integer;
