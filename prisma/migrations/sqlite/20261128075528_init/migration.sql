-- CreateTable
CREATE TABLE "Account" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "keyId" TEXT NOT NULL,
    "jwk" TEXT NOT NULL,
    "contact" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "tosAgreed" BOOLEAN NOT NULL,
    "eabKid" TEXT,
    "createdAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Order" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "accountId" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "expires" DATETIME NOT NULL,
    "identifiers" JSONB NOT NULL,
    "notBefore" DATETIME,
    "notAfter" DATETIME,
    "profile" TEXT,
    "error" JSONB,
    "csr" BLOB,
    "lockedUntil" DATETIME,
    "createdAt" DATETIME NOT NULL,
    CONSTRAINT "Order_accountId_fkey" FOREIGN KEY ("accountId") REFERENCES "Account" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Authorization" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "accountId" TEXT NOT NULL,
    "identifierType" TEXT NOT NULL,
    "identifierValue" TEXT NOT NULL,
    "wildcard" BOOLEAN NOT NULL,
    "status" TEXT NOT NULL,
    "expires" DATETIME NOT NULL,
    "createdAt" DATETIME NOT NULL,
    CONSTRAINT "Authorization_accountId_fkey" FOREIGN KEY ("accountId") REFERENCES "Account" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "OrderAuthz" (
    "orderId" TEXT NOT NULL,
    "authzId" TEXT NOT NULL,
    "position" INTEGER NOT NULL,

    PRIMARY KEY ("orderId", "authzId"),
    CONSTRAINT "OrderAuthz_orderId_fkey" FOREIGN KEY ("orderId") REFERENCES "Order" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "OrderAuthz_authzId_fkey" FOREIGN KEY ("authzId") REFERENCES "Authorization" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Challenge" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "authzId" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "token" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "validated" DATETIME,
    "error" JSONB,
    "validationRecord" JSONB,
    "attempts" INTEGER NOT NULL,
    "runAfter" DATETIME,
    "lockedUntil" DATETIME,
    CONSTRAINT "Challenge_authzId_fkey" FOREIGN KEY ("authzId") REFERENCES "Authorization" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "Certificate" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "serial" TEXT NOT NULL,
    "accountId" TEXT NOT NULL,
    "orderId" TEXT NOT NULL,
    "der" BLOB NOT NULL,
    "issuer" TEXT NOT NULL,
    "identifiers" JSONB NOT NULL,
    "notBefore" DATETIME NOT NULL,
    "notAfter" DATETIME NOT NULL,
    "status" TEXT NOT NULL,
    "revokedAt" DATETIME,
    "revokedReason" INTEGER,
    "createdAt" DATETIME NOT NULL,
    CONSTRAINT "Certificate_accountId_fkey" FOREIGN KEY ("accountId") REFERENCES "Account" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "Certificate_orderId_fkey" FOREIGN KEY ("orderId") REFERENCES "Order" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "RedeemedNonce" (
    "nonce" TEXT NOT NULL PRIMARY KEY,
    "expires" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "Setting" (
    "key" TEXT NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL
);

-- CreateIndex
CREATE UNIQUE INDEX "Account_keyId_key" ON "Account"("keyId");

-- CreateIndex
CREATE INDEX "Account_createdAt_idx" ON "Account"("createdAt");

-- CreateIndex
CREATE INDEX "Order_accountId_createdAt_idx" ON "Order"("accountId", "createdAt");

-- CreateIndex
CREATE INDEX "Order_status_lockedUntil_idx" ON "Order"("status", "lockedUntil");

-- CreateIndex
CREATE INDEX "Authorization_accountId_identifierType_identifierValue_status_idx" ON "Authorization"("accountId", "identifierType", "identifierValue", "status");

-- CreateIndex
CREATE INDEX "OrderAuthz_authzId_idx" ON "OrderAuthz"("authzId");

-- CreateIndex
CREATE INDEX "Challenge_authzId_idx" ON "Challenge"("authzId");

-- CreateIndex
CREATE INDEX "Challenge_status_runAfter_idx" ON "Challenge"("status", "runAfter");

-- CreateIndex
CREATE UNIQUE INDEX "Certificate_serial_key" ON "Certificate"("serial");

-- CreateIndex
CREATE UNIQUE INDEX "Certificate_orderId_key" ON "Certificate"("orderId");

-- CreateIndex
CREATE INDEX "Certificate_status_notAfter_idx" ON "Certificate"("status", "notAfter");

-- CreateIndex
CREATE INDEX "RedeemedNonce_expires_idx" ON "RedeemedNonce"("expires");

