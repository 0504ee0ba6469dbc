-- DropIndex
DROP INDEX "Order_status_lockedUntil_idx";

-- DropIndex
DROP INDEX "Authorization_accountId_identifierType_identifierValue_status_idx";

-- DropIndex
DROP INDEX "Challenge_status_runAfter_idx";


-- Partial indexes (written by hand: Prisma's schema cannot express them; prisma/schema.prisma names them in
-- comments). Each holds only the rows its query looks for, so the many rows that never match (pending and
-- finished challenges and orders, authorizations that are not valid) cost no index write. The queries that use
-- them say `"status" = 'processing'` / `'valid'` literally: a prepared statement's generic plan (PostgreSQL), made
-- without the parameters' values, can use a partial index only then.
CREATE INDEX "Challenge_processing_runAfter_idx" ON "Challenge"("runAfter") WHERE "status" = 'processing';
CREATE INDEX "Order_processing_lockedUntil_idx" ON "Order"("lockedUntil") WHERE "status" = 'processing';
CREATE INDEX "Authorization_valid_lookup_idx" ON "Authorization"("accountId", "identifierType", "identifierValue", "expires") WHERE "status" = 'valid';
