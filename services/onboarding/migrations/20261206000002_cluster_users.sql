-- The name a member runs jobs under on the data center's Slurm cluster, when they gave one:
-- the vouchers service's sacctmgr export adds it as a user of each of the company's accounts.
ALTER TABLE users ADD COLUMN cluster_user TEXT;
