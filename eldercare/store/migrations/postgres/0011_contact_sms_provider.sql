-- Issue 17: a contact's SMS provider override (twilio, aliyun, tencent, console);
-- NULL = the centre's ELDERCARE_SMS_PROVIDER (or Twilio for a number outside +86).
ALTER TABLE contacts ADD COLUMN sms_provider TEXT
    CHECK (sms_provider IS NULL OR sms_provider IN ('twilio', 'aliyun', 'tencent', 'console'));
