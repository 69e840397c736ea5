CREATE TABLE "background_tasks" (
	"name" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"lease_until" timestamp (3) with time zone NOT NULL,
	"state" jsonb NOT NULL
);
