-- One database per service (DESIGN §1: no service reads another's tables).
CREATE DATABASE identity;
CREATE DATABASE ledger;
CREATE DATABASE matching;
CREATE DATABASE aed;
CREATE DATABASE audit;
