-- 007_feedback.sql - what "herald feedback" records beyond a bounce:
-- its class, complaints, and the brake (src/store/feedback.c, src/store/brake.c).
-- Each statement is safe to run again.

-- A bounce's class in Sisimai's vocabulary (src/mail/bounce_class.h),
-- whether it was hard, and the variant of the message, so reports count
-- bounces per class and variant. Bounces recorded before classes were
-- all permanent ones (5.x.x) or failures herald suppressed at once:
-- they stay 'undefined' and hard when their reply was a 5.x.x.
ALTER TABLE bounces
  ADD COLUMN IF NOT EXISTS variant_id INT UNSIGNED NOT NULL DEFAULT 0 AFTER recipient_id,
  ADD COLUMN IF NOT EXISTS reason VARCHAR(32) CHARACTER SET ascii NOT NULL DEFAULT 'undefined' AFTER reply,
  ADD COLUMN IF NOT EXISTS hard TINYINT(1) NOT NULL DEFAULT 0 AFTER reason;
UPDATE bounces SET hard = 1 WHERE reason = 'undefined' AND reply LIKE '5%';
-- Soft bounces of one address are counted across mailings, over a
-- window of time (soft_bounce_limit, soft_bounce_window).
ALTER TABLE bounces ADD INDEX IF NOT EXISTS bounces_email (email, bounced_at);
-- The brake counts hard bounces of one mailing over a window of time.
ALTER TABLE bounces ADD INDEX IF NOT EXISTS bounces_mailing_time (mailing_id, bounced_at);

-- Reports count a mailing's unsubscribes.
ALTER TABLE suppressions ADD INDEX IF NOT EXISTS suppressions_mailing (mailing_id, source);

-- Complaints (ARF reports): one per message, whatever the number of
-- reports a provider sends about it.
CREATE TABLE IF NOT EXISTS complaints (
  mailing_id     BIGINT UNSIGNED NOT NULL,
  recipient_id   BIGINT UNSIGNED NOT NULL,
  variant_id     INT UNSIGNED NOT NULL DEFAULT 0,
  email          VARCHAR(254) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
  feedback_type  VARCHAR(32) CHARACTER SET ascii NOT NULL,
  received_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (mailing_id, recipient_id),
  KEY complaints_mailing_time (mailing_id, received_at)
) ENGINE=InnoDB;

-- The brake: why a mailing was pulled and when, and since when it is
-- armed (a resumed mailing is judged on what comes after the resume).
ALTER TABLE mailings
  ADD COLUMN IF NOT EXISTS complained_count BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER bounced_count,
  ADD COLUMN IF NOT EXISTS pulled_reason VARCHAR(1000) NULL AFTER blocked_at,
  ADD COLUMN IF NOT EXISTS pulled_at DATETIME NULL AFTER pulled_reason,
  ADD COLUMN IF NOT EXISTS brake_armed_at DATETIME NULL AFTER pulled_at;
