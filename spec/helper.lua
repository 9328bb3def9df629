-- Loaded by busted before every spec file (spec/run.sh passes --helper).
package.path = "spec/?.lua;" .. package.path
strand = strand or require "strand"
